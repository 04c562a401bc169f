import { Effect, Metric } from "effect"
import { postAlert, webhookFormatOf } from "../observability/alert-webhook.ts"

/** A budget threshold crossed: sent once per threshold and period to the log, a metric and the webhook. */
export interface BudgetAlert {
  readonly subject_kind: "key" | "team" | "end_user"
  readonly subject_id: string
  /** "50%", "80%", "100%" of max_budget, or "soft" for soft_budget. */
  readonly threshold: string
  readonly spent: number
  readonly budget: number
  readonly period_start: string
  readonly budget_duration: string | null
}

/** Where alerts go: a webhook (JSON, or Slack's shape: `webhookFormat`, by default Slack for hooks.slack.com URLs). */
export interface AlertTarget {
  readonly webhookUrl?: string | undefined
  readonly webhookFormat?: string | undefined
}

const alertsSent = Metric.counter("budget_alerts_total", { description: "Budget alerts sent, by subject kind and threshold." })

const holder = (kind: BudgetAlert["subject_kind"]) => (kind === "end_user" ? "End user" : kind === "key" ? "API key" : "Team")

/** Log line and metric at once; the webhook (slow, may fail) in a detached fiber so no request waits for it. */
export const deliverAlert = (alert: BudgetAlert, target: AlertTarget) =>
  Effect.gen(function*() {
    const text = `Budget alert: ${holder(alert.subject_kind)} ${alert.subject_id} reached ${alert.threshold} of its ${alert.threshold === "soft" ? "soft " : ""}budget ` +
      `(spent ${alert.spent.toFixed(6)} of ${alert.budget}${alert.budget_duration === null ? "" : `, ${alert.budget_duration}`}).`
    yield* Effect.logWarning(text)
    yield* Metric.update(Metric.withAttributes(alertsSent, { subject_kind: alert.subject_kind, threshold: alert.threshold }), 1)
    if (target.webhookUrl === undefined) return
    yield* postAlert(target.webhookUrl, webhookFormatOf(target.webhookUrl, target.webhookFormat), { type: "budget_alert", ...alert }, text)
  })
