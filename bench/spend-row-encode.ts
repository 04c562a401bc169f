/**
 * Microseconds to encode one ledger row as its journal line (every request makes one, on the event
 * loop): encodeSpendRow against the anchor, JSON.stringify of the row as it is (Date fields, which take
 * JSON.stringify off its fast path through Date#toJSON). Interleaved rounds; min/median/max.
 *
 *   node bench/spend-row-encode.ts [--rows 200000] [--rounds 5]
 *
 * Writes bench/results/spend-row-encode-*.json with the machine and commit.
 */
import { parseArgs } from "node:util"
import { encodeSpendRow, type SpendRow } from "../src/ledger/spend-row.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({ options: { rows: { type: "string", default: "200000" }, rounds: { type: "string", default: "5" } } })
const n = Number(args.rows), rounds = Number(args.rounds)

// Rows as the observer makes them: a request's dates a few milliseconds apart.
const rows: Array<SpendRow> = Array.from({ length: 1000 }, (_, i) => {
  const start = Date.now() + i * 3
  return {
    request_id: `req_${i.toString(16).padStart(32, "0")}`, client_request_id: null, key_id: "33930299-554e-4a27-a9c7-845f6b080ebf", key_prefix: "sk-inf-lTL40",
    team_id: "4aed656a-a8bf-4707-9104-9ae10214a8a7", operation: "chat", model_group: "mock", deployment: "mock/0", provider: "openai",
    response_model: "mock", status: "ok", error_type: null, input_tokens: 9, cached_input_tokens: 0, output_tokens: 3, cost: 0.000012,
    start_time: new Date(start), first_token_time: new Date(start + 1), end_time: new Date(start + 2), cache_hit: false, tags: [], end_user: null, session_id: null, saved_cost: 0
  }
})
const encoders = [
  { name: "encodeSpendRow", encode: encodeSpendRow },
  { name: "JSON.stringify(row) (anchor)", encode: (row: SpendRow) => JSON.stringify(row) }
]
for (const e of encoders) {
  const a = JSON.parse(e.encode(rows[0])), b = JSON.parse(JSON.stringify(rows[0]))
  for (const k of Object.keys(b)) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) throw new Error(`${e.name}: ${k} differs`)
}
const micros = encoders.map(() => [] as Array<number>)
let sink = 0
for (let r = 0; r < rounds + 1; r++) {
  for (const [i, e] of encoders.entries()) {
    const t0 = performance.now()
    for (let k = 0; k < n; k++) sink += e.encode(rows[k % 1000]).length
    if (r > 0) micros[i].push(Math.round(((performance.now() - t0) * 1000 / n) * 100) / 100) // round 0 warms up
  }
}
const result = {
  machine: machineInfo(),
  setup: { rowsPerRound: n, rounds, checksum: sink },
  microsPerRow: Object.fromEntries(encoders.map((e, i) => [e.name, stats(micros[i])]))
}
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${writeResult("spend-row-encode", result)}`)
