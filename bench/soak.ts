/**
 * A soak: `inferline serve` (bundled model, a real API key with limits, the spend ledger in
 * DATABASE_URL's Postgres or embedded PGlite) under mixed load for a while — chat and completions,
 * streaming and not, n up to 2, clients that disconnect at random moments (before the first token or
 * mid-stream), slow readers that stall mid-stream — then idle. What must hold at the end: nothing stuck
 * (no sequence running, waiting or paused in the engine, no client request left unanswered past its
 * deadline), the KV cache back to 0 blocks in use, RSS flat rather than growing, every answered
 * request's ledger row stored.
 *
 *   node bench/soak.ts [--duration 300] [--concurrency 12] [--disconnect 0.1] [--slow 0.05] [--sample 5]
 *
 * Writes bench/results/soak-*.json with the machine and commit: RSS (start after warm-up, peak, end)
 * and its samples, KV usage, engine queues, client outcomes, latency percentiles.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { BENCH_MASTER_KEY, fetchAdmin } from "./lib/bench-key.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({
  options: {
    /** Seconds of load (the idle check comes after). */
    duration: { type: "string", default: "300" },
    concurrency: { type: "string", default: "12" },
    /** Share of requests whose client goes away early. */
    disconnect: { type: "string", default: "0.1" },
    /** Share of streams read slowly (stalls of 0.5-3 s between reads). */
    slow: { type: "string", default: "0.05" },
    /** Seconds between samples of RSS and the engine's gauges. */
    sample: { type: "string", default: "5" }
  }
})
const DURATION_S = Number(args.duration)
const CONCURRENCY = Number(args.concurrency)
const DISCONNECT = Number(args.disconnect)
const SLOW = Number(args.slow)
const SAMPLE_S = Number(args.sample)
/** A client request not answered within this is counted as stuck. */
const REQUEST_DEADLINE_MS = 60_000
const MODEL = "soak-kjv"

const repo = fileURLToPath(new URL("..", import.meta.url))
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Starts `inferline serve` in a temp dir; resolves with its URL and pid. */
const startServer = async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-soak-"))
  const child = spawn(process.execPath, [path.join(repo, "bin/inferline.js"), "serve", "--port", "0", "--served-model-name", MODEL, "--disable-log-requests"], {
    cwd,
    env: { ...process.env, INFERLINE_MASTER_KEY: BENCH_MASTER_KEY, INFERLINE_PRICE_TABLE: JSON.stringify({ models: { [MODEL]: { input: 0.1, output: 0.2 } } }) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  child.stdout.on("data", (d) => (out += d))
  child.stderr.on("data", (d) => (out += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL:\n${out}`)), 120_000)
    child.stdout.on("data", () => {
      const m = /Serving model '[^']+' at (http:\/\/[\d.:]+)/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.once("exit", (code) => reject(new Error(`exited ${code}:\n${out}`)))
  })
  return { child, url, cwd, output: () => out }
}

/** VmRSS of a process, in MiB (Linux). */
const rssMiB = (pid: number): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

/** The engine's gauges from /metrics. */
const engineGauges = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${BENCH_MASTER_KEY}` } })).text()
  const gauge = (name: string) => Number(new RegExp(`^inferline_${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1] ?? NaN)
  return { running: gauge("num_requests_running"), waiting: gauge("num_requests_waiting"), paused: gauge("num_requests_paused"), kvUsage: gauge("kv_cache_usage_perc") }
}

type Outcome = "ok" | "disconnected" | "refused" | "error" | "stuck"

/** One request of a random kind; its outcome and how long it took. */
const oneRequest = async (url: string, key: string): Promise<{ outcome: Outcome; status: number; ms: number; slow: boolean; id: string | null }> => {
  const started = performance.now()
  const chat = Math.random() < 0.6
  const stream = Math.random() < 0.6
  const disconnect = Math.random() < DISCONNECT
  const slow = stream && !disconnect && Math.random() < SLOW
  const maxTokens = 1 + Math.floor(Math.random() * 48)
  const body = chat
    ? { model: MODEL, messages: [{ role: "user", content: `Verse ${Math.floor(Math.random() * 500)}: And it came to pass` }], max_tokens: maxTokens, stream, n: Math.random() < 0.2 ? 2 : 1 }
    : { model: MODEL, prompt: `In the beginning ${Math.floor(Math.random() * 500)}`, max_tokens: maxTokens, stream }
  const controller = new AbortController()
  const deadline = setTimeout(() => controller.abort(new Error("deadline")), REQUEST_DEADLINE_MS)
  if (disconnect) setTimeout(() => controller.abort(new Error("client left")), Math.random() * 300)
  try {
    const res = await fetch(`${url}/v1/${chat ? "chat/completions" : "completions"}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal
    })
    const reader = res.body!.getReader()
    for (;;) {
      const { done } = await reader.read()
      if (done) break
      if (slow) await sleep(500 + Math.random() * 2500)
    }
    const outcome: Outcome = res.status === 200 ? "ok" : res.status === 429 || res.status === 503 ? "refused" : "error"
    return { outcome, status: res.status, ms: performance.now() - started, slow, id: res.headers.get("x-inferline-request-id") }
  } catch {
    const outcome: Outcome = controller.signal.reason?.message === "deadline" ? "stuck" : disconnect ? "disconnected" : "error"
    return { outcome, status: 0, ms: performance.now() - started, slow, id: null }
  } finally {
    clearTimeout(deadline)
  }
}

const percentile = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? null : Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))])
}

const main = async () => {
  const server = await startServer()
  const pid = server.child.pid!
  const admin = fetchAdmin(server.url)
  const { key, id: keyId } = await admin("/admin/keys", { rpm_limit: 1_000_000, tpm_limit: 1_000_000_000, max_parallel_requests: 10_000 })
  // Warm-up: the first requests compile kernels and fill caches; RSS is measured from after them.
  for (let i = 0; i < 20; i++) await oneRequest(server.url, key)
  const samples: Array<{ t: number; rssMiB: number; kvUsage: number; running: number; waiting: number; paused: number }> = []
  const sample = async (t: number) => samples.push({ t, rssMiB: Math.round(rssMiB(pid) * 10) / 10, ...(await engineGauges(server.url)) })
  const t0 = Date.now()
  await sample(0)
  const results: Array<Awaited<ReturnType<typeof oneRequest>>> = []
  const end = t0 + DURATION_S * 1000
  const sampler = setInterval(() => void sample(Math.round((Date.now() - t0) / 1000)), SAMPLE_S * 1000)
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) results.push(await oneRequest(server.url, key))
  }))
  clearInterval(sampler)

  // Idle: everything the clients left must drain; nothing may stay running, waiting or paused.
  let idle = await engineGauges(server.url)
  for (let i = 0; i < 20 && idle.running + idle.waiting + idle.paused > 0; i++) {
    await sleep(500)
    idle = await engineGauges(server.url)
  }
  await sleep(1500) // the ledger's last batch
  const rssEnd = rssMiB(pid)
  // Every answered request's row, by the server's id. The ledger pages newest first, by start time
  // (`until` excludes it): each next page ends 1 ms after the last row seen, so rows sharing that
  // millisecond are read again rather than skipped.
  const stored = new Set<string>()
  for (let until: number | undefined; ;) {
    const page = await (await fetch(`${server.url}/spend/logs?key=${keyId}&limit=1000${until === undefined ? "" : `&until=${encodeURIComponent(new Date(until).toISOString())}`}`, { headers: { authorization: `Bearer ${BENCH_MASTER_KEY}` } })).json() as { data: Array<{ request_id: string; start_time: string }> }
    for (const row of page.data) stored.add(row.request_id)
    if (page.data.length < 1000) break
    until = Date.parse(page.data[page.data.length - 1].start_time) + 1
  }
  const answeredIds = results.flatMap((r) => (r.outcome === "ok" && r.id !== null ? [r.id] : []))
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length
  const okMs = results.filter((r) => r.outcome === "ok" && !r.slow).map((r) => r.ms)
  const rss = samples.map((s) => s.rssMiB)
  const result = {
    machine: machineInfo(),
    setup: { durationSeconds: DURATION_S, concurrency: CONCURRENCY, disconnectShare: DISCONNECT, slowShare: SLOW, requestDeadlineMs: REQUEST_DEADLINE_MS, database: process.env.DATABASE_URL ? "postgres" : "pglite" },
    requests: {
      total: results.length,
      ok: count("ok"),
      refused: count("refused"),
      disconnected: count("disconnected"),
      errors: count("error"),
      stuck: count("stuck"),
      slowReaders: results.filter((r) => r.slow).length,
      statuses: Object.fromEntries([...new Set(results.map((r) => r.status))].sort().map((s) => [s, results.filter((r) => r.status === s).length])),
      latencyMs: { p50: percentile(okMs, 0.5), p99: percentile(okMs, 0.99), max: percentile(okMs, 1) }
    },
    end: {
      engine: idle,
      stuckInEngine: idle.running + idle.waiting + idle.paused,
      kvUsage: idle.kvUsage,
      rssMiB: { afterWarmup: rss[0], peak: Math.round(Math.max(...rss, rssEnd) * 10) / 10, end: Math.round(rssEnd * 10) / 10 },
      ledgerRows: stored.size,
      answeredWithoutRow: answeredIds.filter((id) => !stored.has(id)).length
    },
    samples
  }
  console.log(JSON.stringify({ requests: result.requests, end: result.end }, null, 2))
  console.log(`wrote ${writeResult("soak", result)}`)
  server.child.kill("SIGTERM")
  await new Promise((r) => server.child.once("exit", r))
  fs.rmSync(server.cwd, { recursive: true, force: true })
  if (result.end.stuckInEngine > 0 || result.requests.stuck > 0 || result.end.kvUsage > 0 || result.end.answeredWithoutRow > 0) process.exitCode = 1
}

await main()
