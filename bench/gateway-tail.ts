/**
 * Where the 1-connection tail of bench/gateway.ts comes from. The same sequential non-streaming chat
 * requests go to the loopback mock upstream directly, through the bare pass-through proxy (the anchor) and
 * through `inferline serve` (keys, limits, router, ledger on, as in bench/gateway.ts), in interleaved
 * rounds. Reported per target: p50/p90/p99/p99.9 and how many requests took over 2 ms and 5 ms. For
 * Inferline's slow requests (over 2.5 ms), the time is split into the part inside its HTTP server (from
 * the 'request' event to the response's 'finish', recorded by bench/lib/server-timing.mjs preloaded into
 * it) and the part outside it (sockets, the other processes, the server's event loop busy before the
 * request event), the part inside its server spent waiting for the upstream call (the mock) is given, and
 * the slow requests that overlap a GC pause of Inferline (node --trace-gc) are counted.
 *
 *   node bench/gateway-tail.ts [--requests 6000] [--rounds 3] [--warmup 40000] [--samples FILE] [--inferline-node-flags="--some-v8-flag"]
 *
 * Writes bench/results/gateway-tail-*.json with the machine and commit.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { chatRequestBody } from "./lib/mock-upstream.ts"
import { machineInfo, writeResult } from "./lib/report.ts"
import { BENCH_MASTER_KEY, createBenchKey, fetchAdmin } from "./lib/bench-key.ts"

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "6000" },
    rounds: { type: "string", default: "3" },
    /** Warm-up requests per target (V8 is still optimizing after a few thousand; see bench/gateway.ts). */
    warmup: { type: "string", default: "40000" },
    /** Writes every sample and the slow requests' breakdown to this JSON file. */
    samples: { type: "string" },
    /** Extra node flags for the Inferline process (e.g. V8 flags under test), space-separated. */
    "inferline-node-flags": { type: "string", default: "" }
  }
})
const inferlineFlags = args["inferline-node-flags"].split(" ").filter((f) => f !== "")
const requests = Number(args.requests), rounds = Number(args.rounds)
const now = () => performance.timeOrigin + performance.now()
const gatewayBench = fileURLToPath(new URL("./gateway.ts", import.meta.url))

/** Starts a process and resolves with the first stdout match of `ready` (and keeps the process). */
const start = (argv: Array<string>, ready: RegExp, env: NodeJS.ProcessEnv = process.env, onLine: (line: string) => void = () => {}) =>
  new Promise<{ child: ChildProcess; match: RegExpExecArray }>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"], env })
    let out = "", found = false
    child.stdout!.on("data", (c) => {
      for (const line of String(c).split("\n")) onLine(line)
      if (found) return
      out += c
      const match = ready.exec(out)
      if (match) (found = true), resolve({ child, match })
    })
    child.on("exit", (code) => found || reject(new Error(`${argv.join(" ")} exited with ${code}: ${out}`)))
  })

const mock = await start([gatewayBench, "--role", "mock"], /"port":(\d+)/)
const upstream = `http://127.0.0.1:${mock.match[1]}`
const passthrough = await start([gatewayBench, "--role", "passthrough", "--upstream", upstream], /"port":(\d+)/)

// Inferline as bench/gateway.ts runs it, with --trace-gc (pauses with the time they were printed) and the timing probe.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-tail-"))
const config = path.join(dir, "config.json")
fs.writeFileSync(config, JSON.stringify({
  model_list: [{ model_name: "mock", litellm_params: { model: "openai/mock", api_base: `${upstream}/v1`, rpm: 100_000_000 } }],
  router_settings: { routing_strategy: "simple-shuffle", num_retries: 2, allowed_fails: 3, cooldown_time: 5 }
}))
const timingFile = path.join(dir, "timing.json")
const gcPauses: Array<{ end: number; ms: number; kind: string }> = []
const onGcLine = (line: string) => {
  const m = /: (Scavenge|Mark-Compact)[^,]*, pooled: [\d.]+ MB, ([\d.]+) \/ [\d.]+ ms/.exec(line)
  if (m) gcPauses.push({ end: now(), ms: Number(m[2]), kind: m[1] })
}
const inferline = await start(
  [...inferlineFlags, "--trace-gc", "--import", fileURLToPath(new URL("./lib/server-timing.mjs", import.meta.url)), fileURLToPath(new URL("../bin/inferline.js", import.meta.url)),
    "serve", "--config", config, "--port", "0", "--master-key", BENCH_MASTER_KEY, "--disable-log-requests"],
  /Serving model .* at (http:\/\/\S+)/,
  { ...process.env, INFERLINE_LEDGER_DIR: path.join(dir, "journal"), INFERLINE_DATA_DIR: path.join(dir, "data"), INFERLINE_BENCH_TIMING_FILE: timingFile },
  onGcLine
)
const url = inferline.match[1]
const key = await createBenchKey(fetchAdmin(url))

const BODY = chatRequestBody(false)
const targets = [
  { name: "direct", port: Number(mock.match[1]), headers: {} },
  { name: "passthrough", port: Number(passthrough.match[1]), headers: {} },
  { name: "inferline", port: Number(new URL(url).port), headers: { authorization: `Bearer ${key}` } }
] as const
type Sample = { readonly start: number; readonly us: number }

const sequential = async (t: typeof targets[number], n: number, into: Array<Sample>) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < n; i++) {
    const t0 = now()
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: t.port, path: "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json", ...t.headers } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${t.name}: status ${res.statusCode}`))
        res.resume()
        res.on("end", () => resolve())
      })
      req.on("error", reject)
      req.end(BODY)
    })
    into.push({ start: t0, us: (now() - t0) * 1000 })
  }
  agent.destroy()
}

try {
  for (const t of targets) await sequential(t, Number(args.warmup), []) // warm-up
  gcPauses.length = 0
  const samples = targets.map(() => [] as Array<Sample>)
  for (let r = 0; r < rounds; r++) for (const [i, t] of targets.entries()) await sequential(t, requests / rounds, samples[i])

  const q = (sorted: ReadonlyArray<number>, p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))])
  const distribution = (xs: ReadonlyArray<Sample>) => {
    const s = xs.map((x) => x.us).sort((a, b) => a - b)
    return { p50: q(s, 0.5), p90: q(s, 0.9), p99: q(s, 0.99), p999: q(s, 0.999), max: Math.round(s[s.length - 1]), over2ms: s.filter((x) => x > 2000).length, over5ms: s.filter((x) => x > 5000).length }
  }

  inferline.child.kill("SIGTERM")
  await new Promise((resolve) => inferline.child.on("exit", resolve))
  const { spans, upstream: calls } = JSON.parse(fs.readFileSync(timingFile, "utf8")) as { spans: Array<[number, number]>; upstream: Array<[number, number]> }
  const mine = samples[2]
  let j = 0
  let k = 0
  const matched = mine.map((s) => {
    // Spans are in arrival order, as the samples are: the span that started within the sample, and the
    // upstream call that started within that span.
    while (j < spans.length && spans[j][0] < s.start) j++
    if (!(j < spans.length && spans[j][0] <= s.start + s.us / 1000)) return { server: NaN, upstream: NaN, before: NaN, after: NaN }
    const [a, b] = spans[j]
    while (k < calls.length && calls[k][0] < a) k++
    if (!(k < calls.length && calls[k][0] <= b)) return { server: (b - a) * 1000, upstream: NaN, before: NaN, after: NaN }
    const [c, d] = calls[k]
    return { server: (b - a) * 1000, upstream: (d - c) * 1000, before: (c - a) * 1000, after: (b - d) * 1000 }
  })
  const serverUs = matched.map((m) => m.server)
  const slow = mine.map((s, i) => ({ ...s, ...matched[i] })).filter((s) => s.us > 2500 && !Number.isNaN(s.server))
  const overlapsGc = (s: Sample) => gcPauses.some((g) => g.end >= s.start && g.end - g.ms <= s.start + s.us / 1000 + 1)
  const sum = (xs: ReadonlyArray<number>) => Math.round(xs.reduce((a, b) => a + b, 0))
  const serverSorted = serverUs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  const spread = (xs: ReadonlyArray<number>) => {
    const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
    return { p50: q(s, 0.5), p90: q(s, 0.9), p99: q(s, 0.99), max: Math.round(s[s.length - 1]) }
  }
  const result = {
    machine: machineInfo(),
    setup: { requests, rounds, warmup: Number(args.warmup), ledgerBatchRows: process.env.INFERLINE_LEDGER_BATCH_ROWS ?? "default", inferlineNodeFlags: inferlineFlags, database: process.env.DATABASE_URL ? "postgres (DATABASE_URL)" : "embedded PGlite", limits: process.env.REDIS_URL ? "redis (REDIS_URL)" : "memory" },
    microsPerRequest: Object.fromEntries(targets.map((t, i) => [t.name, distribution(samples[i])])),
    inferlineUpstreamCall: (() => { const u = matched.map((m) => m.upstream).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return { p50: q(u, 0.5), p90: q(u, 0.9), p99: q(u, 0.99), max: Math.round(u[u.length - 1]) } })(),
    inferlineServerSide: { p50: q(serverSorted, 0.5), p90: q(serverSorted, 0.9), p99: q(serverSorted, 0.99), max: Math.round(serverSorted[serverSorted.length - 1]) },
    // Inferline's own work around the upstream call: from the request event to the upstream request's
    // start (auth, admission, routing, building the request), and from the upstream response's end to
    // the response's finish (parsing, usage, ledger journal, metrics, writing).
    inferlineBeforeUpstream: spread(matched.map((m) => m.before)),
    inferlineAfterUpstream: spread(matched.map((m) => m.after)),
    inferlineSlowRequests: {
      note: "requests over 2.5 ms through Inferline: time inside its HTTP server vs outside it, and how many overlap one of its GC pauses",
      count: slow.length,
      insideServerMicros: sum(slow.map((s) => s.server)),
      ofWhichUpstreamCallMicros: sum(slow.map((s) => (Number.isNaN(s.upstream) ? 0 : s.upstream))),
      outsideServerMicros: sum(slow.map((s) => s.us - s.server)),
      overlappingGcPause: slow.filter(overlapsGc).length
    },
    inferlineGcPauses: { count: gcPauses.length, totalMs: Math.round(gcPauses.reduce((a, g) => a + g.ms, 0)), maxMs: Math.max(0, ...gcPauses.map((g) => g.ms)) }
  }
  // Every sample ([start in ms since the epoch, us]) per target, the slow ones' breakdown and the GC pauses:
  // for lining requests up with a scheduler trace (perf sched record -k CLOCK_MONOTONIC; convert with the
  // realtime - monotonic offset taken at the time).
  if (args.samples !== undefined) fs.writeFileSync(args.samples, JSON.stringify({ targets: targets.map((t) => t.name), samples: samples.map((x) => x.map((y) => [y.start, y.us])), slow, gcPauses }))
  console.log(JSON.stringify(result, null, 2))
  console.log(`wrote ${writeResult("gateway-tail", result)}`)
} finally {
  mock.child.kill()
  passthrough.child.kill()
  inferline.child.kill()
}
process.exit(0)
