import { Effect, Layer, Metric } from "effect"
import type { SqlClient } from "effect/sql"
import { budgetOptionsFromEnv, budgetsLayer } from "../budgets/budgets.ts"
import { endUserBudgetsLayer } from "../budgets/end-user-budgets.ts"
import { sqlEndUserStoreLayer } from "../gateway/sql-end-user-store.ts"
import { ledgerLayer, ledgerOptionsFromEnv, type Ledger } from "../ledger/ledger.ts"
import { sqlStoredResponsesLayer } from "../ledger/stored-responses.ts"
import { priceTableFromEnv, type Price } from "../ledger/price-table.ts"
import { otlpLayerFromEnv } from "./otlp.ts"
import { captureContentFromEnv, requestObserverLayer } from "./request-observer.ts"

/**
 * Everything issue 7 adds to a server, configured from the environment: the spend ledger
 * (`INFERLINE_LEDGER_DIR` for its journal), prices (`INFERLINE_PRICE_TABLE`), budgets and their alerts
 * (`INFERLINE_BUDGET_ALERT_THRESHOLDS`, `INFERLINE_BUDGET_WEBHOOK_URL`), the RequestObserver
 * (`INFERLINE_OTEL_CAPTURE_CONTENT`) and OTLP export (`OTEL_EXPORTER_OTLP_*`). `metricRegistry` is the
 * one the HTTP server records into (see HttpServerOptions), so OTLP exports the same metrics.
 */
export const observabilityLayerFromEnv = (options: {
  readonly serviceVersion: string
  readonly metricRegistry: Metric.MetricRegistry
  /** Prices by deployment id (the router config's) over INFERLINE_PRICE_TABLE's. */
  readonly deploymentPrices?: Readonly<Record<string, Price>>
}): Layer.Layer<Ledger, never, SqlClient.SqlClient> =>
  Layer.unwrap(Effect.sync(() => {
    const env = process.env
    const prices = priceTableFromEnv(env.INFERLINE_PRICE_TABLE)
    const observer = requestObserverLayer({
      priceTable: { ...prices, deployments: { ...prices.deployments, ...options.deploymentPrices } },
      captureContent: captureContentFromEnv(env)
    })
    const ledger = ledgerLayer(ledgerOptionsFromEnv(env))
    const otlp = otlpLayerFromEnv(options.serviceVersion).pipe(Layer.provide(Layer.succeed(Metric.MetricRegistry, options.metricRegistry)))
    const budgetOptions = budgetOptionsFromEnv(env)
    return observer.pipe(
      Layer.provideMerge(budgetsLayer(budgetOptions)),
      Layer.provideMerge(endUserBudgetsLayer(budgetOptions)),
      Layer.provideMerge(sqlEndUserStoreLayer),
      // /v1/responses' stored responses live in the same database.
      Layer.provideMerge(sqlStoredResponsesLayer),
      Layer.provideMerge(ledger),
      Layer.provideMerge(otlp)
    )
  }))
