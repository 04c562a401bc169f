import { describe, expect, it } from "vitest"
import { encodeSpendRow, type SpendRow } from "../../src/ledger/spend-row.ts"

const row = (start: number, end: number, first: number | null): SpendRow => ({
  request_id: "req_1", client_request_id: null, key_id: null, key_prefix: null, team_id: "t", operation: "chat", model_group: "m", deployment: "d", provider: "p",
  response_model: null, status: "ok", error_type: null, input_tokens: 1, cached_input_tokens: 0, output_tokens: 2, cost: 0.25,
  start_time: new Date(start), first_token_time: first === null ? null : new Date(first), end_time: new Date(end), cache_hit: true, tags: ["x", "y"], end_user: null, session_id: null, saved_cost: 0
})

describe("spend row encoding (the journal line)", () => {
  it("is what JSON.stringify makes of the row, field for field, whatever the dates", () => {
    // Millisecond edges, the cached second reused and left, before 1970, far future.
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, -1, -999, -1000, -1001, Date.UTC(2026, 10, 27, 22, 59, 59, 999), Date.UTC(2026, 10, 27, 23, 0, 0, 0), Date.UTC(12000, 0, 1, 0, 0, 0, 7)]
    for (const start of times) {
      for (const end of [start, start + 1, start + 1000]) {
        for (const first of [null, end]) {
          const r = row(start, end, first)
          expect(JSON.parse(encodeSpendRow(r))).toEqual(JSON.parse(JSON.stringify(r)))
        }
      }
    }
  })
})
