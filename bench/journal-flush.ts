/**
 * How long a ledger flush holds the event loop on the journal's side: what `Journal.rotate()` and
 * `Journal.remove()` (called by the ledger's writer at every batch) take synchronously, while a request in
 * flight waits. Each round appends a batch of rows as the ledger does (group-committed writes, the
 * background fsync due), then rotates and removes the segment, timed. The anchor in the same run is the
 * same work done with the synchronous calls the journal used before (fsyncSync, closeSync, openSync,
 * rmSync on the event loop). Optionally a background writer fsyncs another file in a loop (--fsync-load),
 * as Postgres's WAL does on the same disk during a benchmark.
 *
 *   node bench/journal-flush.ts [--rounds 60] [--rows 500] [--fsync-load]
 *
 * Writes bench/results/journal-flush-*.json with the machine and commit.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Worker } from "node:worker_threads"
import { Journal } from "../src/ledger/journal.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "60" }, rows: { type: "string", default: "500" }, "fsync-load": { type: "boolean", default: false } } })
const rounds = Number(args.rounds), rows = Number(args.rows)

// A ledger row as the journal stores it (~480 bytes of JSON).
const line = (i: number) => JSON.stringify({
  request_id: `req_${i.toString(16).padStart(32, "0")}`, client_request_id: null, key_id: "33930299-554e-4a27-a9c7-845f6b080ebf", key_prefix: "sk-inf-lTL40",
  team_id: "4aed656a-a8bf-4707-9104-9ae10214a8a7", operation: "chat", model_group: "mock", deployment: "mock/0", provider: "openai",
  response_model: "mock", status: "ok", error_type: null, input_tokens: 9, cached_input_tokens: 0, output_tokens: 3, cost: 0,
  start_time: new Date().toISOString(), first_token_time: null, end_time: new Date().toISOString(), cache_hit: false, tags: []
})

/** Appends `rows` rows in groups of 10 per event-loop turn (as concurrent requests do), waiting for each group. */
const fill = async (journal: Journal<string>, from: number) => {
  for (let i = 0; i < rows; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => new Promise<void>((resolve, reject) => journal.append(line(from + i + k), (e) => (e ? reject(e) : resolve())))))
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The journal as it is: rotate() and remove() timed as the time they hold the event loop. */
const current = async (dir: string) => {
  const journal = new Journal<string>(dir, (s) => s)
  const micros: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    await fill(journal, r * rows)
    await sleep(20) // the background fsync is due (its 200 ms timer has not fired), as at a busy flush
    const t0 = performance.now()
    const taken = journal.rotate()!
    journal.remove(taken)
    micros.push((performance.now() - t0) * 1000)
    await sleep(5) // the thread pool finishes; the spare segment opens
  }
  journal.close()
  return micros
}

/** The anchor: the same segment switch done inline, as the journal did before (fsyncSync, closeSync, openSync, rmSync). */
const inline = async (dir: string) => {
  fs.mkdirSync(dir, { recursive: true })
  let sequence = 0
  const open = () => {
    const file = path.join(dir, `segment-${sequence++}.jsonl`)
    return { file, fd: fs.openSync(file, "a") }
  }
  let segment = open()
  const micros: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < rows; i += 10) {
      fs.writeSync(segment.fd, Array.from({ length: 10 }, (_, k) => line(r * rows + i + k) + "\n").join(""))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await sleep(20)
    const t0 = performance.now()
    fs.fsyncSync(segment.fd)
    fs.closeSync(segment.fd)
    const old = segment.file
    segment = open()
    fs.rmSync(old, { force: true })
    micros.push((performance.now() - t0) * 1000)
    await sleep(5)
  }
  fs.closeSync(segment.fd)
  return micros
}

// Another writer fsyncing the same disk (a worker thread, so it does not share this event loop).
const load = args["fsync-load"]
  ? new Worker(`
      const fs = require("node:fs"); const { workerData } = require("node:worker_threads")
      const fd = fs.openSync(workerData, "a"); const block = Buffer.alloc(8192, 1)
      for (;;) { fs.writeSync(fd, block); fs.fsyncSync(fd) }`, { eval: true, workerData: path.join(os.tmpdir(), `journal-flush-load-${process.pid}`) })
  : undefined

const base = fs.mkdtempSync(path.join(os.tmpdir(), "journal-flush-"))
const results = { inline: [] as Array<number>, current: [] as Array<number> }
// Interleaved halves, so drift hits both alike.
for (let half = 0; half < 2; half++) {
  results.inline.push(...await inline(path.join(base, `inline-${half}`)))
  results.current.push(...await current(path.join(base, `current-${half}`)))
}
await load?.terminate()
if (load) fs.rmSync(path.join(os.tmpdir(), `journal-flush-load-${process.pid}`), { force: true })
fs.rmSync(base, { recursive: true, force: true })

const summary = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))])
  return { min: Math.round(s[0]), median: at(0.5), p90: at(0.9), max: Math.round(s[s.length - 1]), flushes: s.length }
}
const result = {
  machine: machineInfo(),
  setup: { rowsPerFlush: rows, flushes: rounds * 2, fsyncLoad: load !== undefined, note: "microseconds the event loop is held per ledger flush by the journal's segment switch and removal" },
  eventLoopMicrosPerFlush: { inlineAnchor: summary(results.inline), journal: summary(results.current) }
}
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${writeResult("journal-flush", result)}`)
