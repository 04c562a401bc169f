import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { type EndUserFields, type EndUserRecord, EndUserStore, EndUserStoreError, type EndUserStoreService } from "./end-users.ts"

const COLUMNS = "id, alias, max_budget, soft_budget, budget_duration, blocked, metadata, created_at, updated_at"

/** Field values as column values (metadata as JSON text, cast by Postgres on assignment). */
const columnsOf = (fields: EndUserFields): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) out[name] = name === "metadata" ? JSON.stringify(value) : value
  return out
}

/** End users in PostgreSQL (or PGlite): the `end_users` table of migration 0006. */
export const makeSqlEndUserStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql.literal(COLUMNS)
  const fail = (operation: string) => (cause: unknown) => new EndUserStoreError({ operation, cause })
  const one = (rows: ReadonlyArray<unknown>) => rows[0] as EndUserRecord | undefined
  const store: EndUserStoreService = {
    upsert: (id, fields) => {
      const values = columnsOf(fields)
      const set = Object.keys(values).length === 0 ? sql.literal("updated_at = now()") : sql`${sql.update(values)}, updated_at = now()`
      return sql`INSERT INTO end_users ${sql.insert({ id, ...values })} ON CONFLICT (id) DO UPDATE SET ${set} RETURNING ${columns}`.pipe(
        Effect.map((rows) => rows[0] as unknown as EndUserRecord),
        Effect.mapError(fail("upsert"))
      )
    },
    update: (id, fields) => {
      const values = columnsOf(fields)
      const set = Object.keys(values).length === 0 ? sql.literal("updated_at = now()") : sql`${sql.update(values)}, updated_at = now()`
      return sql`UPDATE end_users SET ${set} WHERE id = ${id} RETURNING ${columns}`.pipe(Effect.map(one), Effect.mapError(fail("update")))
    },
    get: (id) => sql`SELECT ${columns} FROM end_users WHERE id = ${id}`.pipe(Effect.map(one), Effect.mapError(fail("get"))),
    list: () =>
      sql`SELECT ${columns} FROM end_users ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows as unknown as ReadonlyArray<EndUserRecord>),
        Effect.mapError(fail("list"))
      ),
    remove: (id) => sql`DELETE FROM end_users WHERE id = ${id} RETURNING id`.pipe(Effect.map((rows) => rows.length > 0), Effect.mapError(fail("remove")))
  }
  return store
})

export const sqlEndUserStoreLayer: Layer.Layer<never, never, SqlClient.SqlClient> = Layer.effect(EndUserStore, makeSqlEndUserStore)
