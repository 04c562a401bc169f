/**
 * What one ledger batch costs the database: the ledger's INSERT (rows into spend_logs with its five
 * indexes, folded into spend_daily) for a batch of encoded rows, timed from the client, against
 * DATABASE_URL's Postgres (embedded PGlite in memory when unset) in a migrated schema of its own that is
 * dropped afterwards. Two kinds of request id (the primary key) in interleaved rounds on the same growing
 * table, both with the ledger's statement (json_populate_recordset over one json parameter):
 * - random ids (`req_` + a UUIDv4's hex, what the gateway made before; the anchor);
 * - time-ordered ids (newRequestId: milliseconds first, then random), what it makes now.
 * An earlier version of this bench compared json against jsonb parameters: jsonb was ~15% slower through
 * the client (ledger-insert-2026-11-27*.json), so the ledger stays on json.
 * During a gateway benchmark the database shares the machine's two cores with the load generator, the
 * upstream and Inferline, so its time per batch is time they do not get.
 *
 *   node bench/ledger-insert.ts [--rows 500] [--rounds 200]
 *
 * Writes bench/results/ledger-insert-*.json with the machine and commit.
 */
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import { databaseLayer } from "../src/db/database.ts"
import { quoteIdentifier } from "../src/db/embedded-postgres.ts"
import { newRequestId } from "../src/gateway/request-id.ts"
import { spendInsertStatement } from "../src/ledger/spend-store.ts"
import { encodeSpendRow, type SpendRow } from "../src/ledger/spend-row.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({ options: { rows: { type: "string", default: "500" }, rounds: { type: "string", default: "200" } } })
const rows = Number(args.rows), rounds = Number(args.rounds)

const statement = spendInsertStatement("json_populate_recordset(NULL::spend_logs, $1::json)")
const variants = [
  { name: "random ids", id: () => `req_${randomUUID().replaceAll("-", "")}` },
  { name: "time-ordered ids (the gateway's)", id: newRequestId }
] as const

/** A batch as the ledger sends it: the journal's lines joined into one JSON array. */
const batch = (id: () => string) => {
  const now = new Date()
  const lines = Array.from({ length: rows }, () => encodeSpendRow({
    request_id: id(), client_request_id: null, key_id: "33930299-554e-4a27-a9c7-845f6b080ebf", key_prefix: "sk-inf-lTL40",
    team_id: "4aed656a-a8bf-4707-9104-9ae10214a8a7", operation: "chat", model_group: "mock", deployment: "mock/0", provider: "openai",
    response_model: "mock", status: "ok", error_type: null, input_tokens: 9, cached_input_tokens: 0, output_tokens: 3, cost: 0.000012,
    start_time: now, first_token_time: null, end_time: now, cache_hit: false, tags: [], end_user: null, session_id: null, saved_cost: 0
  } satisfies SpendRow))
  return `[${lines.join(",")}]`
}

const schema = `bench_ledger_${process.pid}`
const url = process.env.DATABASE_URL
const database = databaseLayer(url ? { url, schema, maxConnections: 1 } : { dataDir: "memory://", maxConnections: 1 })

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const dropSchema = url ? Effect.ignore(sql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`)) : Effect.void
  return yield* measure(sql).pipe(Effect.ensuring(dropSchema))
})

const measure = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
  const run = (id: () => string) =>
    Effect.gen(function*() {
      const parameter = batch(id)
      const t0 = performance.now()
      yield* sql.unsafe(statement, [parameter])
      return performance.now() - t0
    })
  for (const v of variants) for (let i = 0; i < 3; i++) yield* run(v.id) // warm-up: prepare, caches
  const ms = variants.map(() => [] as Array<number>)
  for (let r = 0; r < rounds; r++) for (const [i, v] of variants.entries()) ms[i].push(yield* run(v.id))
  const [{ n }] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM spend_logs`
  return { ms, storedRows: Number(n) }
  })

const { ms, storedRows } = await Effect.runPromise(program.pipe(Effect.provide(Layer.orDie(database))))
if (storedRows !== (rounds + 3) * variants.length * rows) throw new Error(`expected every row stored, found ${storedRows}`)
const summary = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 100) / 100
  return { min: at(0), median: at(0.5), p90: at(0.9), max: at(1), batches: s.length }
}
const result = {
  machine: machineInfo(),
  setup: { database: url ? "postgres (DATABASE_URL)" : "embedded PGlite (memory)", rowsPerBatch: rows, rounds, storedRows, note: "milliseconds per batch INSERT, client-timed; both kinds of id insert into the same table, interleaved" },
  msPerBatch: Object.fromEntries(variants.map((v, i) => [v.name, summary(ms[i])]))
}
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${writeResult("ledger-insert", result)}`)
