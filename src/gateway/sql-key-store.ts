import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseGuard } from "../db/database-guard.ts"
import type { DependencyGuard } from "../effect/dependency-guard.ts"
import { isUuid, KeyStore, KeyStoreError, type NewKey } from "./key-store.ts"
import { LIMIT_FIELDS, type KeyFields, type KeyRecord, type TeamFields, type TeamRecord } from "./records.ts"

/** Columns read back; `key_hash` is deliberately absent, so a hash never leaves the store through a record. */
const TEAM_COLUMNS = ["id", "name", ...LIMIT_FIELDS, "created_at", "updated_at", "deleted_at"] as const
const KEY_COLUMNS = ["id", "key_prefix", "name", "team_id", ...LIMIT_FIELDS, "expires_at", "revoked_at", "created_at", "updated_at"] as const

const JSON_COLUMNS = new Set<string>(["models", "metadata"])

/** Field values as query parameters: jsonb columns get JSON text (Postgres casts it on assignment). */
const toColumns = (fields: object): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue
    out[name] = JSON_COLUMNS.has(name) ? JSON.stringify(value) : value
  }
  return out
}

const pick = (row: Record<string, unknown>, columns: ReadonlyArray<string>, prefix = ""): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const c of columns) out[c] = row[prefix + c]
  return out
}

/**
 * Every operation of a store through the database's guard: a hung database fails it after the timeout
 * (a KeyStoreError, which the gateway answers with its cached keys or a 503), and one known to be down
 * fails it at once.
 */
const guardedStore = (store: KeyStore["Service"], guard: DependencyGuard): KeyStore["Service"] => {
  const guarded: Record<string, unknown> = {}
  for (const [operation, call] of Object.entries(store) as Array<[string, (...args: Array<unknown>) => Effect.Effect<unknown, KeyStoreError>]>) {
    guarded[operation] = (...args: Array<unknown>) =>
      guard.run(call(...args)).pipe(Effect.mapError((e) => (e._tag === "KeyStoreError" ? e : new KeyStoreError({ operation, cause: e }))))
  }
  return guarded as unknown as KeyStore["Service"]
}

/** Teams and keys in PostgreSQL (or PGlite): the tables of migration 0001. */
export const makeSqlKeyStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const guard = yield* DatabaseGuard
  const teamColumns = sql.literal(TEAM_COLUMNS.join(", "))
  const keyColumns = sql.literal(KEY_COLUMNS.join(", "))
  // For the key lookup: the key's columns as they are, its team's prefixed with `team__`.
  const joinedColumns = sql.literal([...KEY_COLUMNS.map((c) => `k.${c}`), ...TEAM_COLUMNS.map((c) => `t.${c} AS team__${c}`)].join(", "))

  const fail = (operation: string) => (cause: unknown) => new KeyStoreError({ operation, cause })
  const first = <A>(rows: ReadonlyArray<unknown>) => rows[0] as A | undefined
  /** At most one row by id; an id that is not a UUID matches nothing (and never reaches the database). */
  const byId = <A>(id: string, operation: string, query: () => Effect.Effect<ReadonlyArray<unknown>, unknown>): Effect.Effect<A | undefined, KeyStoreError> =>
    isUuid(id) ? query().pipe(Effect.map(first<A>), Effect.mapError(fail(operation))) : Effect.succeed(undefined)

  const update = (table: "teams" | "api_keys", columns: typeof teamColumns, id: string, fields: object, extra: string) => {
    const values = toColumns(fields)
    const set = Object.keys(values).length === 0 ? sql.literal(extra) : sql`${sql.update(values)}, ${sql.literal(extra)}`
    return sql`UPDATE ${sql(table)} SET ${set} WHERE id = ${id} RETURNING ${columns}`
  }

  return guardedStore(KeyStore.of({
    createTeam: (fields: TeamFields) =>
      sql`INSERT INTO teams ${sql.insert({ id: crypto.randomUUID(), ...toColumns(fields) })} RETURNING ${teamColumns}`.pipe(
        Effect.map((rows) => rows[0] as unknown as TeamRecord),
        Effect.mapError(fail("createTeam"))
      ),
    getTeam: (id) =>
      byId<TeamRecord>(id, "getTeam", () => sql`SELECT ${teamColumns} FROM teams WHERE id = ${id}`),
    listTeams: ({ includeDeleted }) =>
      sql`SELECT ${teamColumns} FROM teams ${includeDeleted ? sql.literal("") : sql.literal("WHERE deleted_at IS NULL")} ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows as unknown as ReadonlyArray<TeamRecord>),
        Effect.mapError(fail("listTeams"))
      ),
    updateTeam: (id, fields) =>
      byId<TeamRecord>(id, "updateTeam", () => update("teams", teamColumns, id, fields, "updated_at = now()")),
    deleteTeam: (id) =>
      byId<TeamRecord>(id, "deleteTeam", () =>
        sql`UPDATE teams SET deleted_at = coalesce(deleted_at, now()), updated_at = now() WHERE id = ${id} RETURNING ${teamColumns}`),
    createKey: (key: NewKey) =>
      sql`INSERT INTO api_keys ${sql.insert({ id: crypto.randomUUID(), ...toColumns(key) })} RETURNING ${keyColumns}`.pipe(
        Effect.map((rows) => rows[0] as unknown as KeyRecord),
        Effect.mapError(fail("createKey"))
      ),
    getKey: (id) =>
      byId<KeyRecord>(id, "getKey", () => sql`SELECT ${keyColumns} FROM api_keys WHERE id = ${id}`),
    listKeys: ({ teamId, includeRevoked }) => {
      if (teamId !== undefined && !isUuid(teamId)) return Effect.succeed([])
      const conditions = [
        ...(includeRevoked ? [] : [sql`revoked_at IS NULL`]),
        ...(teamId === undefined ? [] : [sql`team_id = ${teamId}`])
      ]
      const where = conditions.length === 0 ? sql.literal("") : sql`WHERE ${sql.and(conditions)}`
      return sql`SELECT ${keyColumns} FROM api_keys ${where} ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows as unknown as ReadonlyArray<KeyRecord>),
        Effect.mapError(fail("listKeys"))
      )
    },
    updateKey: (id, fields: KeyFields) =>
      byId<KeyRecord>(id, "updateKey", () => update("api_keys", keyColumns, id, fields, "updated_at = now()")),
    revokeKey: (id) =>
      byId<KeyRecord>(id, "revokeKey", () =>
        sql`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), updated_at = now() WHERE id = ${id} RETURNING ${keyColumns}`),
    findByHash: (keyHash) =>
      sql`SELECT ${joinedColumns} FROM api_keys k LEFT JOIN teams t ON t.id = k.team_id WHERE k.key_hash = ${keyHash}`.pipe(
        Effect.map((rows) => {
          const row = rows[0] as Record<string, unknown> | undefined
          if (row === undefined) return undefined
          const key = pick(row, KEY_COLUMNS) as unknown as KeyRecord
          const team = row.team__id === null ? null : (pick(row, TEAM_COLUMNS, "team__") as unknown as TeamRecord)
          return { key, team }
        }),
        Effect.mapError(fail("findByHash"))
      )
  }), guard)
})

export const sqlKeyStoreLayer: Layer.Layer<KeyStore, never, SqlClient.SqlClient> = Layer.effect(KeyStore, makeSqlKeyStore)
