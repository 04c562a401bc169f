import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import * as fs from "node:fs"
import { DEFAULT_JOURNAL_DIR, Ledger, ledgerLayer, ledgerOptionsFromEnv, REJECTED_FILE } from "../../src/ledger/ledger.ts"
import { costOf, parsePriceTable, priceFor } from "../../src/ledger/price-table.ts"
import { spendLogs, spendReport } from "../../src/ledger/spend-queries.ts"
import { encodeSpendRow, type SpendRow } from "../../src/ledger/spend-row.ts"
import { RequestObserver, requestObserverLayer } from "../../src/observability/request-observer.ts"
import { countInsertStatements, postgresSchemaLayer, tempDir } from "./support/ledger-database.ts"
import { keyPrincipal, keyRecord, teamRecord } from "./support/principals.ts"

const prices = parsePriceTable({ deployments: { local: { input: 1, cached_input: 0.5, output: 2 } } })

const row = (id: string, over: Partial<SpendRow> = {}): SpendRow => ({
  request_id: id, client_request_id: null, key_id: "k1", key_prefix: "sk-inf-k1", team_id: "t1", operation: "chat", model_group: "m", deployment: "local",
  provider: "inferline", response_model: "m", status: "ok", error_type: null, input_tokens: 10, cached_input_tokens: 0, output_tokens: 5,
  cost: 0.001, start_time: new Date("2026-01-02T10:00:00Z"), first_token_time: null, end_time: new Date("2026-01-02T10:00:01Z"),
  cache_hit: false, tags: ["a"], end_user: null, session_id: null, saved_cost: 0, ...over
})

describe("price table", () => {
  it("bills cached input at the cached price and defaults to free", () => {
    expect(costOf(priceFor(prices, "local", "m"), { inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 1_000_000 })).toBeCloseTo(0.6 + 0.2 + 2)
    expect(costOf(priceFor(prices, "other", "m"), { inputTokens: 5, cachedInputTokens: 0, outputTokens: 5 })).toBe(0)
  })
})

describe("ledger options from the environment", () => {
  it("reads batch rows and flush interval, and names the variable of a bad value", () => {
    expect(ledgerOptionsFromEnv({})).toEqual({ journalDir: DEFAULT_JOURNAL_DIR, journalSync: "interval", batchSize: undefined, flushInterval: undefined })
    const o = ledgerOptionsFromEnv({ INFERLINE_LEDGER_DIR: "/j", INFERLINE_LEDGER_FSYNC: "always", INFERLINE_LEDGER_BATCH_ROWS: "2000", INFERLINE_LEDGER_FLUSH_MS: "250" })
    expect(o).toMatchObject({ journalDir: "/j", journalSync: "always", batchSize: 2000 })
    expect(Duration.toMillis(Duration.fromInputUnsafe(o.flushInterval!))).toBe(250)
    for (const bad of ["0", "-5", "1.5", "many"]) {
      expect(() => ledgerOptionsFromEnv({ INFERLINE_LEDGER_BATCH_ROWS: bad })).toThrow(/INFERLINE_LEDGER_BATCH_ROWS/)
      expect(() => ledgerOptionsFromEnv({ INFERLINE_LEDGER_FLUSH_MS: bad })).toThrow(/INFERLINE_LEDGER_FLUSH_MS/)
    }
  })
})

describe("ledger on PostgreSQL", () => {
  it.live("1,000 observed requests become one row each in a few INSERT statements, with daily aggregates", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const insertCount = yield* countInsertStatements
      const dir = tempDir("ledger")
      yield* Effect.gen(function*() {
        const observer = yield* RequestObserver
        const team = teamRecord("team-1")
        const principal = keyPrincipal(keyRecord("key-1", {}, team.id), team)
        // Exactly the calls the request path makes: start, then end with what the response used.
        yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const handle = yield* observer.start({ requestId: `req-${i}`, operation: "chat", modelGroup: "m", params: { model: "m", max_tokens: 8 }, principal, tags: ["load"] })
            yield* handle.end({ deployment: "local", provider: "inferline", inputTokens: 100, cachedInputTokens: i % 2 === 0 ? 50 : 0, outputTokens: 10 })
          }), { concurrency: 50, discard: true })
        yield* (yield* Ledger).flush
      }).pipe(Effect.provide(requestObserverLayer({ priceTable: prices }).pipe(Layer.provideMerge(ledgerLayer({ journalDir: dir, flushInterval: "200 millis" })))))

      const [{ n }] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM spend_logs`
      expect(Number(n)).toBe(1000)
      const statements = yield* insertCount
      console.log(`ledger: 1000 requests -> ${statements} INSERT statements on spend_logs`)
      expect(statements).toBeLessThanOrEqual(24)
      const report = yield* spendReport("key")
      expect(report).toHaveLength(1)
      expect(report[0].requests).toBe(1000)
      // 500 requests with 50 cached: (50*1 + 50*0.5 + 10*2)/1e6 ; 500 without: (100*1 + 10*2)/1e6
      expect(report[0].spend).toBeCloseTo((500 * 95 + 500 * 120) / 1e6, 9)
      expect((yield* spendReport("team"))[0].group).toBe("team-1")
      // Every request was tagged "load": the tag's daily total is the key's.
      expect((yield* spendReport("tag")).map((r) => [r.group, r.requests, r.spend.toFixed(9)])).toEqual([["load", 1000, report[0].spend.toFixed(9)]])
      const logs = yield* spendLogs({ keyId: "key-1", limit: 5 })
      expect(logs).toHaveLength(5)
      // The journal is emptied once its rows are stored.
      expect(fs.readdirSync(dir).filter((f) => fs.statSync(`${dir}/${f}`).size > 0)).toEqual([])
    }).pipe(Effect.provide(postgresSchemaLayer())))

  it.live("a full batch is written at once, without waiting for the flush interval", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const stored = sql<{ n: string }>`SELECT count(*) AS n FROM spend_logs`.pipe(Effect.map(([{ n }]) => Number(n)))
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        yield* Effect.forEach(Array.from({ length: 9 }, (_, i) => row(`b${i}`)), ledger.record, { discard: true })
        yield* Effect.sleep("300 millis")
        expect(yield* stored).toBe(0) // under the batch size: waits for the (hour-long) interval
        yield* ledger.record(row("b9"))
        const n = yield* stored.pipe(Effect.repeat({ until: (n) => n === 10, schedule: Schedule.spaced("20 millis"), times: 100 }))
        expect(n).toBe(10)
      }).pipe(Effect.provide(ledgerLayer({ journalDir: tempDir("batch"), batchSize: 10, flushInterval: "1 hour" })))
    }).pipe(Effect.provide(postgresSchemaLayer())))

  it.live("rows the database refuses for their data are set aside, and every other row is stored (at startup and at run time)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const dir = tempDir("poison")
      // A journal left behind with a row Postgres will never take (tokens that are not a number).
      fs.writeFileSync(`${dir}/segment-000000000000001-1-000000.jsonl`, [JSON.stringify(row("p1")), JSON.stringify({ ...JSON.parse(encodeSpendRow(row("p2"))), input_tokens: "many" }), JSON.stringify(row("p3"))].join("\n") + "\n")
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        // At run time: more tokens than a Postgres integer holds, in a batch with good rows.
        yield* ledger.record(row("p4"))
        yield* ledger.record(row("p5", { output_tokens: 1e12 }))
        yield* ledger.record(row("p6"))
        yield* ledger.flush
        yield* ledger.record(row("p7")) // and the ledger goes on
        yield* ledger.flush
      }).pipe(Effect.provide(ledgerLayer({ journalDir: dir })))
      const stored = yield* sql<{ request_id: string }>`SELECT request_id FROM spend_logs ORDER BY request_id`
      expect(stored.map((r) => r.request_id)).toEqual(["p1", "p3", "p4", "p6", "p7"])
      const rejected = fs.readFileSync(`${dir}/${REJECTED_FILE}`, "utf8").trim().split("\n").map((l) => JSON.parse(l).request_id)
      expect(rejected).toEqual(["p2", "p5"])
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("segment-") && fs.statSync(`${dir}/${f}`).size > 0)).toEqual([])
    }).pipe(Effect.provide(postgresSchemaLayer())))

  it.live("a NUL in any text (an upstream's model name) is stored as U+FFFD instead of failing the batch", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        yield* ledger.record(row("nul-1", { response_model: "gpt\u0000evil", error_type: "x\u0000" }))
        yield* ledger.record(row("nul-2"))
        yield* ledger.flush
      }).pipe(Effect.provide(ledgerLayer({ journalDir: tempDir("nul") })))
      const rows = yield* sql<{ request_id: string; response_model: string; error_type: string | null }>`SELECT request_id, response_model, error_type FROM spend_logs ORDER BY request_id`
      expect(rows.map((r) => [r.request_id, r.response_model, r.error_type])).toEqual([["nul-1", "gpt\ufffdevil", "x\ufffd"], ["nul-2", "m", null]])
    }).pipe(Effect.provide(postgresSchemaLayer())))

  it.live("a row whose tags are not a list is stored, and left out of the tag totals instead of failing its batch", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const dir = tempDir("odd-tags")
      // Written by hand (the ledger itself only writes lists): a string and an object where the list goes.
      fs.writeFileSync(`${dir}/segment-000000000000001-1-000000.jsonl`, [{ ...row("o1"), tags: "solo" }, { ...row("o2"), tags: { a: 1 } }, row("o3")].map((r) => JSON.stringify(r)).join("\n") + "\n")
      yield* Effect.scoped(Layer.build(ledgerLayer({ journalDir: dir })))
      const [{ n }] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM spend_logs`
      expect(Number(n)).toBe(3)
      expect((yield* spendReport("tag")).map((r) => [r.group, r.requests])).toEqual([["a", 1]])
    }).pipe(Effect.provide(postgresSchemaLayer())))

  it.live("replays a journal left by a killed process exactly once, even if part of it was stored", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const dir = tempDir("replay")
      // A process that stored r1 and journaled r1..r3, then died before deleting the segment.
      fs.writeFileSync(`${dir}/segment-000000000000001-1-000000.jsonl`, [row("r1"), row("r2"), row("r3")].map((r) => JSON.stringify(r)).join("\n") + "\n{\"request_id\":\"torn")
      yield* Effect.gen(function*() {
        yield* (yield* Ledger).record(row("r1"))
        yield* (yield* Ledger).flush
      }).pipe(Effect.provide(ledgerLayer({ journalDir: tempDir("other") })))
      yield* Effect.scoped(Layer.build(ledgerLayer({ journalDir: dir })))
      const rows = yield* sql<{ request_id: string }>`SELECT request_id FROM spend_logs ORDER BY request_id`
      expect(rows.map((r) => r.request_id)).toEqual(["r1", "r2", "r3"])
      const daily = yield* spendReport("model")
      expect(daily[0].requests).toBe(3) // r1 counted once in the aggregates too
      expect((yield* spendReport("tag")).map((r) => [r.group, r.requests])).toEqual([["a", 3]])
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("segment-000000000000001"))).toEqual([])
    }).pipe(Effect.provide(postgresSchemaLayer())))
})
