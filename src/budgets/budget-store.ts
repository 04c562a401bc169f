import { Data, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseGuard } from "../db/database-guard.ts"
import { spentSince } from "../ledger/spend-queries.ts"
import type { BudgetAlert } from "./budget-alert.ts"

/** The spend of a key or team could not be read (database down, hung, or failing). */
export class SpendReadError extends Data.TaggedError("SpendReadError")<{ readonly cause: unknown }> {}

/** What budgets need from storage: the spend so far in a period, and "was this alert sent already?". */
export interface BudgetStore {
  /** Fails rather than guess: a failed read taken as 0 would reset the spend (issue 16, item 5). */
  readonly spentSince: (subject: "key" | "team", id: string, since: Date) => Effect.Effect<number, SpendReadError>
  /** True the first time an alert (subject, period, threshold) is claimed, false ever after. */
  readonly claimAlert: (alert: BudgetAlert) => Effect.Effect<boolean>
}

/** Spend from the ledger; alerts deduplicated by budget_alerts' primary key, so restarts do not resend. */
export const sqlBudgetStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const guard = yield* DatabaseGuard
  return {
    spentSince: (subject, id, since) =>
      guard.run(spentSince(subject, id, since)).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.mapError((cause) => new SpendReadError({ cause }))
      ),
    claimAlert: (a) =>
      sql`INSERT INTO budget_alerts (subject_kind, subject_id, period_start, threshold, spent, budget)
          VALUES (${a.subject_kind}, ${a.subject_id}, ${new Date(a.period_start)}, ${a.threshold}, ${a.spent}, ${a.budget})
          ON CONFLICT DO NOTHING RETURNING threshold`.pipe(
        Effect.map((rows) => rows.length === 1),
        Effect.catch((e) => Effect.as(Effect.logWarning("budgets: cannot record an alert; sending it anyway", e), true))
      )
  } satisfies BudgetStore
})

/** In memory (no database, and unit tests). */
export const memoryBudgetStore = (spent: (subject: "key" | "team", id: string, since: Date) => number = () => 0): BudgetStore => {
  const claimed = new Set<string>()
  return {
    spentSince: (subject, id, since) => Effect.sync(() => spent(subject, id, since)),
    claimAlert: (a) =>
      Effect.sync(() => {
        const key = `${a.subject_kind}:${a.subject_id}:${a.period_start}:${a.threshold}`
        if (claimed.has(key)) return false
        claimed.add(key)
        return true
      })
  }
}
