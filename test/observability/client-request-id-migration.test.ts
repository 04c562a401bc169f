import { NodeServices } from "@effect/platform-node"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { databaseLayer } from "../../src/db/database.ts"
import { quoteIdentifier, startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts"
import teamsAndApiKeys from "../../src/db/migrations/0001_teams_and_api_keys.ts"
import spendLedger from "../../src/db/migrations/0002_spend_ledger.ts"
import spendByTag from "../../src/db/migrations/0003_spend_by_tag.ts"
import { spendLogs } from "../../src/ledger/spend-queries.ts"
import { insertEncodedSpendRows } from "../../src/ledger/spend-store.ts"
import { DATABASE_URL, uniqueName } from "../gateway/support/databases.ts"

// Migration 0004 (client_request_id) as an upgrade of a database made by the previous release: its rows
// keep their ids and get no client id, and a journal line written before the upgrade (no
// client_request_id field) is still stored when it is replayed after it.

const beforeUpgrade = PgMigrator.fromRecord({ "0001_teams_and_api_keys": teamsAndApiKeys, "0002_spend_ledger": spendLedger, "0003_spend_by_tag": spendByTag })

/** A spend row as the previous release journaled it: no client_request_id. */
const oldLine = (id: string) => JSON.stringify({
  request_id: id, key_id: "k-old", key_prefix: "sk-inf-old", team_id: null, operation: "chat", model_group: "m", deployment: "local",
  provider: "inferline", response_model: "m", status: "ok", error_type: null, input_tokens: 3, cached_input_tokens: 0, output_tokens: 2,
  cost: 0.5, start_time: new Date().toISOString(), first_token_time: null, end_time: new Date().toISOString(), cache_hit: false, tags: []
})

const newLine = (id: string, clientId: string | null) => JSON.stringify({ ...JSON.parse(oldLine(id)), client_request_id: clientId, key_id: "k-new" })

/** What the previous release left: its three migrations and one stored row. */
const previousRelease = Effect.gen(function*() {
  const applied = yield* PgMigrator.run({ loader: beforeUpgrade })
  expect(applied.map(([id]) => id)).toEqual([1, 2, 3])
  // Stored the way it stored rows: its columns, no client_request_id.
  yield* (yield* SqlClient.SqlClient)`INSERT INTO spend_logs (request_id, key_id, operation, model_group, deployment, provider, status, start_time, end_time)
    VALUES ('req-before-upgrade', 'k-old', 'chat', 'm', 'local', 'inferline', 'ok', now(), now())`
}).pipe(Effect.provide(NodeServices.layer))

/** After the upgrade: old rows have no client id, old and new journal lines store, the id is searchable. */
const afterUpgrade = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const applied = yield* sql<{ migration_id: number }>`SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id`
  expect(applied.map((m) => Number(m.migration_id))).toContain(4)
  yield* insertEncodedSpendRows([oldLine("req-journaled-before"), newLine("req-a", "shared"), newLine("req-b", "shared"), newLine("req-c", null)])
  const rows = yield* sql<{ request_id: string; client_request_id: string | null }>`SELECT request_id, client_request_id FROM spend_logs ORDER BY request_id`
  expect(rows.map((r) => [r.request_id, r.client_request_id])).toEqual([
    ["req-a", "shared"], ["req-b", "shared"], ["req-before-upgrade", null], ["req-c", null], ["req-journaled-before", null]
  ])
  expect((yield* spendLogs({ clientRequestId: "shared" })).map((r) => r.request_id).sort()).toEqual(["req-a", "req-b"])
  expect((yield* spendLogs({ requestId: "req-c" })).map((r) => r.request_id)).toEqual(["req-c"])
  // The lookup by client id is served by the new index.
  yield* sql`SET enable_seqscan = off`
  const plan = (yield* sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT * FROM spend_logs WHERE client_request_id = 'shared'`).map((r) => r["QUERY PLAN"]).join("\n")
  expect(plan).toContain("spend_logs_client_request_id_idx")
})

describe("migration 0004: client_request_id", () => {
  it.live("upgrades a PostgreSQL database of the previous release", () =>
    Effect.gen(function*() {
      const schema = uniqueName("obs_upgrade")
      const client = PgClient.layer({ url: Redacted.make(DATABASE_URL), maxConnections: 2, startupParameters: { search_path: schema } })
      yield* Effect.gen(function*() {
        yield* (yield* SqlClient.SqlClient).unsafe(`CREATE SCHEMA ${quoteIdentifier(schema)}`)
        yield* previousRelease
      }).pipe(Effect.provide(client))
      yield* afterUpgrade.pipe(
        Effect.ensuring(Effect.ignore((yield* SqlClient.SqlClient).unsafe(`DROP SCHEMA ${quoteIdentifier(schema)} CASCADE`))),
        Effect.provide(databaseLayer({ url: DATABASE_URL, schema, maxConnections: 2 }))
      )
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(DATABASE_URL), maxConnections: 1 })), Effect.orDie), { timeout: 60_000 })

  it.live("upgrades an embedded PGlite database of the previous release", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-upgrade-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
      yield* Effect.scoped(Effect.gen(function*() {
        const { host, port } = yield* startEmbeddedPostgres({ dataDir, maxConnections: 2 })
        yield* previousRelease.pipe(Effect.provide(PgClient.layer({ host, port, username: "postgres", database: "postgres", maxConnections: 2 })))
      }))
      yield* afterUpgrade.pipe(Effect.provide(databaseLayer({ dataDir, maxConnections: 2 })))
    }).pipe(Effect.orDie), { timeout: 120_000 })
})
