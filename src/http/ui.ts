import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { DatabaseGuard, isDatabaseOutage } from "../db/database-guard.ts"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { Engine } from "../actors/engine.ts"
import { dashboardData } from "../ledger/dashboard-queries.ts"
import { scoresOverTime } from "../evaluation/score-store.ts"
import { requireMaster } from "./gateway/authenticate-request.ts"
import { DASHBOARD_HTML } from "./ui-page.ts"
import { orGatewayErrorResponse } from "./gateway/gateway-error-response.ts"

/**
 * GET /ui: the dashboard (a static page; no data in it, so it needs no key), its chart library served
 * from node_modules (no CDN: the page works offline), and GET /ui/data, the numbers, for the master key.
 */

// The UMD build sits next to the package's CommonJS entry (its "exports" do not list it). Read once,
// lazily: the dashboard is optional and most servers never serve it.
const chartJsPath = () => path.join(path.dirname(createRequire(import.meta.url).resolve("chart.js")), "chart.umd.min.js")
let chartJs: Uint8Array | undefined

const page = HttpRouter.add("GET", "/ui", Effect.succeed(HttpServerResponse.html(DASHBOARD_HTML)))

const chartLibrary = HttpRouter.add("GET", "/ui/chart.umd.min.js", Effect.sync(() => {
  chartJs ??= fs.readFileSync(chartJsPath())
  return HttpServerResponse.uint8Array(chartJs, { contentType: "text/javascript; charset=utf-8", headers: { "cache-control": "public, max-age=86400" } })
}))

const data = HttpRouter.add("GET", "/ui/data", orGatewayErrorResponse(Effect.gen(function*() {
  yield* requireMaster
  const request = yield* HttpServerRequest.HttpServerRequest
  const days = Math.min(Math.max(Number(new URL(request.url, "http://x").searchParams.get("days") ?? 14) || 14, 1), 366)
  const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
  // A database that is down or hung leaves the ledger's part empty (as without one) within its timeout.
  const ledger = sql._tag === "None"
    ? null
    : yield* (yield* DatabaseGuard).run(dashboardData(days)).pipe(Effect.provideService(SqlClient.SqlClient, sql.value), Effect.catchIf(isDatabaseOutage, () => Effect.succeed(null)))
  // Evaluation scores over the same days (none when no evaluator ever ran: an empty list).
  const evaluations = sql._tag === "None"
    ? null
    : yield* (yield* DatabaseGuard).run(scoresOverTime(new Date(Date.now() - days * 86_400_000))).pipe(
      Effect.provideService(SqlClient.SqlClient, sql.value),
      Effect.map((rows) => rows.map((r) => ({ model_group: r.model_group, evaluator: r.evaluator, hour: new Date(r.hour).toISOString(), mean: Number(r.mean), scores: Number(r.scores) }))),
      Effect.catchIf(isDatabaseOutage, () => Effect.succeed(null))
    )
  const engine = yield* Effect.serviceOption(Engine)
  const stats = engine._tag === "None" ? null : yield* engine.value.stats
  return HttpServerResponse.jsonUnsafe({
    ledger,
    evaluations,
    engine: stats === null || engine._tag === "None"
      ? null
      : { model: engine.value.info.modelName, running: stats.numRequestsRunning, waiting: stats.numRequestsWaiting, paused: stats.numRequestsPaused, kv_cache_usage: stats.kvCacheUsage }
  }, { headers: { "cache-control": "no-store" } })
})))

export const uiRoutes = Layer.mergeAll(page, chartLibrary, data)
