import { Data, Effect } from "effect"
import { SqlClient } from "effect/sql"

/** End-user spend could not be read or added to (the database is down or failing). */
export class EndUserSpendError extends Data.TaggedError("EndUserSpendError")<{ readonly cause: unknown }> {}

/**
 * End users' spend per budget period, in the database every instance shares (`end_user_spend`): each
 * request's cost is added by the instance that served it, and a check reads the sum, so a budget holds
 * across replicas (at most the requests in flight at once overshoot it).
 */
export interface EndUserSpendStore {
  readonly spent: (endUser: string, periodStart: Date) => Effect.Effect<number, EndUserSpendError>
  /** Adds a cost; the total after it. */
  readonly add: (endUser: string, periodStart: Date, cost: number) => Effect.Effect<number, EndUserSpendError>
}

export const makeSqlEndUserSpendStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = (cause: unknown) => new EndUserSpendError({ cause })
  const store: EndUserSpendStore = {
    spent: (endUser, periodStart) =>
      sql<{ spent: number }>`SELECT spent FROM end_user_spend WHERE end_user = ${endUser} AND period_start = ${periodStart}`.pipe(
        Effect.map((rows) => rows[0]?.spent ?? 0),
        Effect.mapError(fail)
      ),
    add: (endUser, periodStart, cost) =>
      sql<{ spent: number }>`INSERT INTO end_user_spend (end_user, period_start, spent) VALUES (${endUser}, ${periodStart}, ${cost})
          ON CONFLICT (end_user, period_start) DO UPDATE SET spent = end_user_spend.spent + EXCLUDED.spent RETURNING spent`.pipe(
        Effect.map((rows) => rows[0].spent),
        Effect.mapError(fail)
      )
  }
  return store
})

/** In memory (one instance; tests). */
export const memoryEndUserSpendStore = (): EndUserSpendStore => {
  const spent = new Map<string, number>()
  const key = (u: string, p: Date) => `${u}\u0000${p.getTime()}`
  return {
    spent: (u, p) => Effect.sync(() => spent.get(key(u, p)) ?? 0),
    add: (u, p, cost) => Effect.sync(() => {
      const total = (spent.get(key(u, p)) ?? 0) + cost
      spent.set(key(u, p), total)
      return total
    })
  }
}
