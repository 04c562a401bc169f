import { Effect, Metric } from "effect"

/** A budget threshold crossed: sent once per threshold and period to the log, a metric and the webhook. */
export interface BudgetAlert {
  readonly subject_kind: "key" | "team"
  readonly subject_id: string
  /** "50%", "80%", "100%" of max_budget, or "soft" for soft_budget. */
  readonly threshold: string
  readonly spent: number
  readonly budget: number
  readonly period_start: string
  readonly budget_duration: string | null
}

const alertsSent = Metric.counter("budget_alerts_total", { description: "Budget alerts sent, by subject kind and threshold." })

/** Log line and metric at once; the webhook (slow, may fail) in a detached fiber so no request waits for it. */
export const deliverAlert = (alert: BudgetAlert, webhookUrl: string | undefined) =>
  Effect.gen(function*() {
    yield* Effect.logWarning(`budget alert: ${alert.subject_kind} ${alert.subject_id} reached ${alert.threshold} (spent ${alert.spent.toFixed(6)} of ${alert.budget})`)
    yield* Metric.update(Metric.withAttributes(alertsSent, { subject_kind: alert.subject_kind, threshold: alert.threshold }), 1)
    if (webhookUrl === undefined) return
    yield* Effect.tryPromise(() =>
      fetch(webhookUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "budget_alert", ...alert }),
        signal: AbortSignal.timeout(10_000)
      }).then((r) => {
        if (!r.ok) throw new Error(`webhook answered ${r.status}`)
      })
    ).pipe(
      Effect.retry({ times: 2 }),
      Effect.catch((e) => Effect.logWarning(`budget alert webhook failed: ${String(e)}`)),
      Effect.forkDetach
    )
  })
