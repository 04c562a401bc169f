import { Clock, Context, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import type { GatewayError } from "../gateway/errors.ts"
import type { Principal } from "../gateway/principal.ts"
import type { Limits } from "../gateway/records.ts"
import { deliverAlert, type BudgetAlert } from "./budget-alert.ts"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { budgetExceeded, budgetUnavailable } from "./budget-exceeded.ts"
import { periodEnd, periodStart } from "./budget-period.ts"
import { memoryBudgetStore, sqlBudgetStore, type BudgetStore } from "./budget-store.ts"

/**
 * Budgets of keys and teams (max_budget, soft_budget, budget_duration on their records). `check` is the
 * gate the request path calls before admitting a request; `charge` adds a finished request's cost (the
 * RequestObserver calls it) and sends the alerts whose thresholds the spend crossed.
 *
 * Spend per period is read from the ledger once (first use in a period, or after a restart), then kept
 * in memory, so a check costs no query. With several instances each counts its own requests on top of
 * what the ledger had when it loaded: budgets may overshoot by what the others spent since. A read that
 * fails is not kept: the request is refused with a 503 `budget_unavailable` (fail closed: letting it
 * through as if nothing had been spent would reset the spend for the rest of the period), and the next
 * request reads again. Once the period's spend is known, the database is not needed to check it.
 */
export interface BudgetsService {
  /** Fails with a 400 `budget_exceeded` once the key's or its team's hard budget is spent. */
  readonly check: (principal: Principal) => Effect.Effect<void, GatewayError>
  readonly charge: (principal: Principal, cost: number) => Effect.Effect<void>
  /** Spend in the current period (dashboard, tests). */
  readonly spent: (subject: "key" | "team", id: string, duration: Limits["budget_duration"]) => Effect.Effect<number, GatewayError>
}

/** A reference whose default enforces nothing, so servers without a ledger (tests) need not provide one. */
export const Budgets = Context.Reference<BudgetsService>("inferline/Budgets", {
  defaultValue: () => ({ check: () => Effect.void, charge: () => Effect.void, spent: () => Effect.succeed(0) })
})

export interface BudgetOptions {
  /** Fractions of max_budget that alert (default 0.5, 0.8, 1). */
  readonly thresholds?: ReadonlyArray<number>
  /** POSTed a JSON BudgetAlert (`INFERLINE_BUDGET_WEBHOOK_URL`). */
  readonly webhookUrl?: string | undefined
  /** `json` or `slack` (`INFERLINE_BUDGET_WEBHOOK_FORMAT`; default Slack for hooks.slack.com URLs). */
  readonly webhookFormat?: string | undefined
}

export const DEFAULT_THRESHOLDS = [0.5, 0.8, 1] as const

interface Subject {
  readonly kind: "key" | "team"
  readonly id: string
  readonly limits: Limits
}

const subjectsOf = (p: Principal): ReadonlyArray<Subject> =>
  p._tag !== "Key"
    ? []
    : [{ kind: "key" as const, id: p.key.id, limits: p.key as Limits }, ...(p.team === null ? [] : [{ kind: "team" as const, id: p.team.id, limits: p.team as Limits }])]
      .filter((s) => s.limits.max_budget !== null || s.limits.soft_budget !== null)

const percent = (t: number) => `${Math.round(t * 100)}%`

export const makeBudgets = (store: BudgetStore, options: BudgetOptions = {}) =>
  Effect.sync(() => {
    const thresholds = [...(options.thresholds ?? DEFAULT_THRESHOLDS)].sort((a, b) => a - b)
    const periods = new Map<string, { readonly start: number; spent: number }>()
    const log = rateLimitedLog()

    // The generators are made once, not per call: see bench/scavenge-survivors.ts.
    /** The subject's spend in the current period, loaded from the store on the period's first use. */
    const current = Effect.fnUntraced(function*(kind: "key" | "team", id: string, duration: Limits["budget_duration"]) {
      const now = yield* Clock.currentTimeMillis
      const start = periodStart(duration, now).getTime()
      const key = `${kind}:${id}`
      const known = periods.get(key)
      if (known !== undefined && known.start === start) return known
      const loaded = yield* store.spentSince(kind, id, new Date(start)).pipe(
        Effect.tapError((e) => log("read", "Error", "budgets: cannot read spend from the ledger; requests of keys and teams with a max_budget get 503 until it can", e.cause)),
        Effect.mapError(() => budgetUnavailable(kind))
      )
      // Another fiber may have loaded (and charged) meanwhile: keep its state.
      const again = periods.get(key)
      if (again !== undefined && again.start === start) return again
      const state = { start, spent: loaded }
      periods.set(key, state)
      return state
    })

    const checkSubject = Effect.fnUntraced(function*(s: Subject) {
      const budget = s.limits.max_budget
      if (budget === null) return
      const state = yield* current(s.kind, s.id, s.limits.budget_duration)
      if (state.spent >= budget) return yield* budgetExceeded(s.kind, state.spent, budget, periodEnd(s.limits.budget_duration, state.start))
    })
    const check = (principal: Principal) => Effect.forEach(subjectsOf(principal), checkSubject, { discard: true })

    const chargeSubject = Effect.fnUntraced(function*(s: Subject, cost: number) {
      // Not loaded and cannot be: the cost is in the ledger row, which the next successful read includes.
      const loaded = yield* Effect.option(current(s.kind, s.id, s.limits.budget_duration))
      if (loaded._tag === "None") return
      const state = loaded.value
      const before = state.spent
      state.spent += cost
      const after = state.spent
      const crossed: Array<{ threshold: string; budget: number }> = []
      const max = s.limits.max_budget
      if (max !== null) for (const t of thresholds) if (before < t * max && after >= t * max) crossed.push({ threshold: percent(t), budget: max })
      const soft = s.limits.soft_budget
      if (soft !== null && before < soft && after >= soft) crossed.push({ threshold: "soft", budget: soft })
      for (const c of crossed) {
        const alert: BudgetAlert = {
          subject_kind: s.kind,
          subject_id: s.id,
          threshold: c.threshold,
          spent: after,
          budget: c.budget,
          period_start: new Date(state.start).toISOString(),
          budget_duration: s.limits.budget_duration
        }
        if (yield* store.claimAlert(alert)) yield* deliverAlert(alert, options)
      }
    })
    const charge = (principal: Principal, cost: number) => Effect.forEach(subjectsOf(principal), (s) => chargeSubject(s, cost), { discard: true })

    const spent = (kind: "key" | "team", id: string, duration: Limits["budget_duration"]) => Effect.map(current(kind, id, duration), (s) => s.spent)

    return { check, charge, spent } satisfies BudgetsService
  })

/** Budgets on the ledger's database. */
export const budgetsLayer = (options: BudgetOptions = {}): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effect(Budgets, Effect.flatMap(sqlBudgetStore, (store) => makeBudgets(store, options)))

/** Budgets counted in memory only (tests; no database). */
export const budgetsMemoryLayer = (options: BudgetOptions = {}, store: BudgetStore = memoryBudgetStore()): Layer.Layer<never> =>
  Layer.effect(Budgets, makeBudgets(store, options))

/** Thresholds from `INFERLINE_BUDGET_ALERT_THRESHOLDS` ("50,80,100", percent) and the webhook URL. */
export const budgetOptionsFromEnv = (env: Record<string, string | undefined> = process.env): BudgetOptions => {
  const raw = env.INFERLINE_BUDGET_ALERT_THRESHOLDS
  const thresholds = raw === undefined || raw.trim() === ""
    ? undefined
    : raw.split(",").map((s) => {
      const n = Number(s.trim().replace(/%$/, ""))
      if (!Number.isFinite(n) || n <= 0) throw new Error(`INFERLINE_BUDGET_ALERT_THRESHOLDS: expected percentages such as 50,80,100, got ${JSON.stringify(raw)}`)
      return n / 100
    })
  const webhookUrl = env.INFERLINE_BUDGET_WEBHOOK_URL
  const webhookFormat = env.INFERLINE_BUDGET_WEBHOOK_FORMAT
  if (webhookFormat !== undefined && webhookFormat !== "" && webhookFormat !== "json" && webhookFormat !== "slack") {
    throw new Error(`INFERLINE_BUDGET_WEBHOOK_FORMAT: expected json or slack, got ${JSON.stringify(webhookFormat)}`)
  }
  return { thresholds, webhookUrl: webhookUrl === undefined || webhookUrl === "" ? undefined : webhookUrl, webhookFormat }
}
