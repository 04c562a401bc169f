import { Clock, Context, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { GatewayError } from "../gateway/errors.ts"
import { type EndUserRecord, EndUserStore, type EndUserStoreService } from "../gateway/end-users.ts"
import { deliverAlert, type BudgetAlert } from "./budget-alert.ts"
import { type BudgetOptions, DEFAULT_THRESHOLDS } from "./budgets.ts"
import { periodEnd, periodStart } from "./budget-period.ts"
import { type BudgetStore, sqlBudgetStore } from "./budget-store.ts"
import { type EndUserSpendStore, makeSqlEndUserSpendStore } from "./end-user-spend-store.ts"

/**
 * End users' budgets and blocks (records made with POST /admin/end_users). `check` runs before a
 * request that names an end user is admitted: blocked is a 403, a spent max_budget a 400
 * budget_exceeded. `charge` adds a finished request's cost to the shared per-period spend and sends
 * the alerts it crossed. Records are read at most once a second per end user (an update or a block
 * reaches every instance within a second); spend is read from the shared store on every check of an
 * end user with a max_budget, so the budget holds across instances.
 */
export interface EndUserBudgetsService {
  readonly check: (endUser: string) => Effect.Effect<void, GatewayError>
  readonly charge: (endUser: string, cost: number) => Effect.Effect<void>
}

export const EndUserBudgets = Context.Reference<EndUserBudgetsService>("inferline/budgets/EndUserBudgets", {
  defaultValue: () => ({ check: () => Effect.void, charge: () => Effect.void })
})

const RECORD_TTL_MS = 1000

const blocked = (id: string) =>
  new GatewayError({ reason: "forbidden", code: "end_user_blocked", message: `Requests for the end user ${JSON.stringify(id)} are blocked.`, param: "user" })

const exceeded = (id: string, spent: number, budget: number, resetsAt: Date | null) =>
  new GatewayError({
    reason: "budget_exceeded",
    code: "budget_exceeded",
    message: `The end user ${JSON.stringify(id)} has spent ${spent.toFixed(6)} of their budget of ${budget}` + (resetsAt === null ? "." : `; the budget resets at ${resetsAt.toISOString()}.`),
    param: "user"
  })

const unavailable = () =>
  new GatewayError({ reason: "unavailable", code: "budget_unavailable", message: "The end user's budget cannot be checked right now; retry shortly.", param: null, retryAfterMs: 1000 })

export const makeEndUserBudgets = (records: EndUserStoreService, spend: EndUserSpendStore, alerts: BudgetStore, options: BudgetOptions = {}): EndUserBudgetsService => {
  const thresholds = [...(options.thresholds ?? DEFAULT_THRESHOLDS)].sort((a, b) => a - b)
  const cache = new Map<string, { readonly record: EndUserRecord | undefined; readonly at: number }>()

  /** The record, from the cache when younger than a second; a failed read keeps a stale one, else fails closed. */
  const recordOf = Effect.fnUntraced(function*(id: string) {
    const now = yield* Clock.currentTimeMillis
    const cached = cache.get(id)
    if (cached !== undefined && now - cached.at < RECORD_TTL_MS) return cached.record
    const read = yield* Effect.result(records.get(id))
    if (read._tag === "Failure") {
      if (cached !== undefined) return cached.record
      yield* Effect.logWarning(`end-user budgets: cannot read end user ${id}`, read.failure.cause)
      return yield* unavailable()
    }
    if (cache.size > 100_000) cache.clear()
    cache.set(id, { record: read.success, at: now })
    return read.success
  })

  const hasBudget = (r: EndUserRecord) => r.max_budget !== null || r.soft_budget !== null

  return {
    check: (id) =>
      Effect.gen(function*() {
        const record = yield* recordOf(id)
        if (record === undefined) return
        if (record.blocked) return yield* blocked(id)
        if (record.max_budget === null) return
        const now = yield* Clock.currentTimeMillis
        const start = periodStart(record.budget_duration, now)
        const spent = yield* Effect.mapError(spend.spent(id, start), unavailable)
        if (spent >= record.max_budget) return yield* exceeded(id, spent, record.max_budget, periodEnd(record.budget_duration, now))
      }),
    charge: (id, cost) =>
      Effect.gen(function*() {
        if (cost <= 0) return
        const record = yield* recordOf(id)
        if (record === undefined || !hasBudget(record)) return
        const now = yield* Clock.currentTimeMillis
        const start = periodStart(record.budget_duration, now)
        const after = yield* spend.add(id, start, cost)
        const before = after - cost
        const crossed: Array<{ threshold: string; budget: number }> = []
        if (record.max_budget !== null) for (const t of thresholds) if (before < t * record.max_budget && after >= t * record.max_budget) crossed.push({ threshold: `${Math.round(t * 100)}%`, budget: record.max_budget })
        if (record.soft_budget !== null && before < record.soft_budget && after >= record.soft_budget) crossed.push({ threshold: "soft", budget: record.soft_budget })
        for (const c of crossed) {
          const alert: BudgetAlert = { subject_kind: "end_user", subject_id: id, threshold: c.threshold, spent: after, budget: c.budget, period_start: start.toISOString(), budget_duration: record.budget_duration }
          if (yield* alerts.claimAlert(alert)) yield* deliverAlert(alert, options)
        }
      }).pipe(Effect.catch((e) => Effect.logWarning(`end-user budgets: could not charge ${id}: ${e._tag}`)))
  }
}

/** End-user budgets over the EndUserStore's records, with spend and alerts in the database, as `inferline serve` runs them. */
export const endUserBudgetsLayer = (options: BudgetOptions = {}): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effect(EndUserBudgets, Effect.gen(function*() {
    return makeEndUserBudgets(yield* EndUserStore, yield* makeSqlEndUserSpendStore, yield* sqlBudgetStore, options)
  }))
