/**
 * CPU time of one request through Inferline's request path, with the kernel taken out: every socket is
 * an in-memory stream pair (node:stream duplexPair) handed to real node:http servers and clients, so
 * what is measured is the JavaScript work per request (HTTP parsing, Effect, gateway, router, observer,
 * ledger), free of the loopback and scheduler noise that dominates bench/gateway.ts on this machine.
 * Inferline runs as `inferline serve` composes it (src/cli.ts main), keys on, ledger on (DATABASE_URL's
 * Postgres or embedded PGlite), with a router group on the in-memory mock upstream.
 *
 * Three paths, the same non-streaming chat request, one at a time, interleaved rounds:
 * - direct: the client to the mock upstream;
 * - passthrough: through a bare node:http pass-through proxy (the anchor);
 * - inferline: through Inferline.
 * Reported: microseconds per request (wall time of a run / requests; the process does nothing else),
 * min/median/max over rounds, and what each proxy adds over direct.
 *
 * With --stream, the requests stream (stream: true) and the mock answers with SSE chunks; the time runs
 * to the end of the response body.
 *
 *   node bench/request-path.ts [--requests 2000] [--rounds 7] [--no-allocations] [--stream] [--evaluator]
 *
 * Writes bench/results/request-path-*.json with the machine and commit.
 */
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"
import http from "node:http"
import { syncBuiltinESMExports } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { duplexPair, type Duplex } from "node:stream"
import { parseArgs } from "node:util"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { chatRequestBody, mockUpstreamHandler } from "./lib/mock-upstream.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"
import { BENCH_MASTER_KEY, createBenchKey } from "./lib/bench-key.ts"

const { values: args } = parseArgs({ options: { requests: { type: "string", default: "2000" }, rounds: { type: "string", default: "7" }, allocations: { type: "boolean", default: true }, stream: { type: "boolean", default: false }, evaluator: { type: "boolean", default: false } }, allowNegative: true })
const requests = Number(args.requests)
const rounds = Number(args.rounds)

/** What node:http and its users call on a socket beyond the stream interface; an in-memory pipe ignores them. */
const asSocket = (d: Duplex): Duplex => {
  const socket = d as Duplex & Record<string, unknown>
  for (const m of ["setNoDelay", "setKeepAlive", "setTimeout", "ref", "unref"]) socket[m] = () => socket
  Object.assign(socket, { remoteAddress: "127.0.0.1", remotePort: 1, localAddress: "127.0.0.1", localPort: 1, encrypted: false })
  return socket
}
/** A client connection to `server` that never touches the kernel. */
const connectTo = (server: http.Server): Duplex => {
  const [client, served] = duplexPair()
  server.emit("connection", asSocket(served))
  return asSocket(client)
}

// The mock upstream (bench/lib/mock-upstream.ts), reached through in-memory connections only.
const mock = http.createServer(mockUpstreamHandler)
// Every outgoing connection of any http.Agent (Inferline's upstream pool, the proxy's) reaches the mock.
http.Agent.prototype.createConnection = () => connectTo(mock) as any

// The bare pass-through proxy (the anchor).
const proxyAgent = new http.Agent({ keepAlive: true })
const passthrough = http.createServer((req, res) => {
  const out = http.request({ host: "mock", port: 80, path: req.url, method: req.method, headers: { "content-type": "application/json" }, agent: proxyAgent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers)
    up.pipe(res)
  })
  req.pipe(out)
})

// Inferline: capture the node:http server the CLI creates (its listening socket is never used).
let inferlineServer: http.Server | undefined
const createServer = http.createServer
// (The default import is node:http's own module object; syncBuiltinESMExports updates its named exports.)
http.createServer = ((...a: Array<any>) => (inferlineServer = (createServer as any)(...a))) as typeof http.createServer
syncBuiltinESMExports()

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-request-path-"))
const config = path.join(dir, "config.json")
fs.writeFileSync(config, JSON.stringify({
  model_list: [{ model_name: "mock", litellm_params: { model: "openai/mock", api_base: "http://mock/v1", rpm: 100_000_000 } }],
  router_settings: { routing_strategy: "simple-shuffle", num_retries: 2, allowed_fails: 3, cooldown_time: 5 },
  // --evaluator: every answer scored by a rule evaluator (as bench/gateway.ts's evaluated server), so the
  // scoring's CPU per request shows (it runs in this process, after the response).
  ...(args.evaluator && { evaluators: [{ name: "no-apologies", type: "not_contains", phrases: ["as an AI", "I apologize"], sample_rate: 1 }] })
}))
process.env.INFERLINE_LEDGER_DIR = path.join(dir, "journal")
process.env.INFERLINE_DATA_DIR = path.join(dir, "data")
const { main } = await import("../src/cli.ts")
const log = console.log
let ready: () => void
const started = new Promise<void>((resolve) => (ready = resolve))
console.log = (...a: Array<unknown>) => (String(a[0]).startsWith("Serving model") ? ready() : undefined)
main(["serve", "--config", config, "--port", "0", "--master-key", BENCH_MASTER_KEY, "--disable-log-requests"])
await started
console.log = log

/** One kept-alive in-memory connection per target; requests one at a time. */
const clientFor = (server: http.Server) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  agent.createConnection = () => connectTo(server) as any
  return (route: string, body: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: "x", path: route, method: "POST", agent, headers: { "content-type": "application/json", ...headers } }, (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (c: string) => (text += c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on("error", reject)
      req.end(body)
    })
}

const toInferline = clientFor(inferlineServer!)
const key = await createBenchKey(async (route, body) => {
  const res = await toInferline(route, JSON.stringify(body), { authorization: `Bearer ${BENCH_MASTER_KEY}` })
  if (res.status !== 201) throw new Error(`${route}: ${res.status} ${res.text}`)
  return JSON.parse(res.text)
})

const BODY = chatRequestBody(args.stream)
const targets = [
  { name: "direct", send: clientFor(mock), headers: {} },
  { name: "passthrough", send: clientFor(passthrough), headers: {} },
  { name: "inferline", send: toInferline, headers: { authorization: `Bearer ${key}` } }
] as const

/** Microseconds per request over `n` sequential requests. */
const run = async (t: typeof targets[number], n: number) => {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const res = await t.send("/v1/chat/completions", BODY, t.headers)
    if (res.status !== 200) throw new Error(`${t.name}: ${res.status} ${res.text}`)
  }
  return ((performance.now() - t0) * 1000) / n
}

for (const t of targets) await run(t, 1000) // warm-up: JIT, pools, key cache
const perRequest = targets.map(() => [] as Array<number>)
for (let r = 0; r < rounds; r++) {
  for (const [i, t] of targets.entries()) perRequest[i].push(Math.round(await run(t, requests)))
}
/**
 * Bytes allocated per request (V8's sampling heap profiler, collected objects included): deterministic
 * where times are not, so a change to the request path shows here even when the machine is noisy.
 */
const allocatedKiB = async (t: typeof targets[number], n: number) => {
  const session = new inspector.Session()
  session.connect()
  await session.post("HeapProfiler.enable")
  await session.post("HeapProfiler.startSampling", { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  await run(t, n)
  const { profile } = await session.post("HeapProfiler.stopSampling")
  session.disconnect()
  // For a closer look (e.g. in Chrome DevTools): INFERLINE_BENCH_HEAP_PROFILES=dir keeps each target's profile.
  const keep = process.env.INFERLINE_BENCH_HEAP_PROFILES
  if (keep) fs.writeFileSync(path.join(keep, `${t.name}.heapprofile`), JSON.stringify(profile))
  let bytes = 0
  const walk = (node: { selfSize: number; children: Array<any> }) => {
    bytes += node.selfSize
    node.children.forEach(walk)
  }
  walk(profile.head)
  return Math.round(bytes / n / 102.4) / 10
}
/**
 * Bytes per request that survive a young-generation GC (a scavenge): objects still referenced when it
 * runs, by live objects or by dead ones in the old generation (which only a mark-compact clears). The
 * scavenger's pause grows with what survives it (it copies it), and what it promotes fills the old
 * generation until a mark-compact: this predicts the GC share of the tail in bench/gateway.ts as
 * allocation does the median. Measured as: a scavenge, sampling on (collected objects of mark-compacts
 * kept, those of scavenges dropped), the run, a scavenge, sampling off. The largest sites are printed
 * (INFERLINE_BENCH_HEAP_PROFILES keeps the profile).
 */
// A young-generation GC on demand (V8's gc({ type: "minor" }), exposed at run time).
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as (options: { type: "minor"; execution: "sync" }) => void
const scavenge = () => gc({ type: "minor", execution: "sync" })
const survivedKiB = async (t: typeof targets[number], n: number) => {
  const session = new inspector.Session()
  session.connect()
  await session.post("HeapProfiler.enable")
  scavenge()
  await session.post("HeapProfiler.startSampling", { samplingInterval: 128, includeObjectsCollectedByMajorGC: true })
  await run(t, n)
  scavenge()
  const { profile } = await session.post("HeapProfiler.stopSampling")
  session.disconnect()
  const keep = process.env.INFERLINE_BENCH_HEAP_PROFILES
  if (keep) fs.writeFileSync(path.join(keep, `${t.name}-survived.heapprofile`), JSON.stringify(profile))
  let bytes = 0
  const sites = new Map<string, number>()
  const walk = (node: { selfSize: number; callFrame: { functionName: string; url: string; lineNumber: number }; children: Array<any> }, stack: Array<string>) => {
    const frame = `${node.callFrame.functionName || "(anonymous)"} ${path.basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`
    bytes += node.selfSize
    if (node.selfSize > 0) {
      const site = [frame, ...stack].slice(0, 4).join(" < ")
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize)
    }
    node.children.forEach((c) => walk(c, [frame, ...stack]))
  }
  walk(profile.head, [])
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 8)
  for (const [site, b] of top) console.error(`  ${t.name} survived ${(b / n).toFixed(0)} B/request at ${site}`)
  return Math.round(bytes / n / 102.4) / 10
}
let allocations: Record<string, number> | undefined
let survived: Record<string, number> | undefined
if (args.allocations) {
  allocations = {}
  survived = {}
  for (const t of targets) allocations[t.name] = await allocatedKiB(t, 1000)
  for (const t of targets) survived[t.name] = await survivedKiB(t, 1000)
}

const micros = Object.fromEntries(targets.map((t, i) => [t.name, stats(perRequest[i])]))
const result = {
  machine: machineInfo(),
  setup: {
    requests, rounds, stream: args.stream, evaluator: args.evaluator,
    note: "in-memory sockets (no kernel): CPU time of the request path, one process",
    database: process.env.DATABASE_URL ? "postgres (DATABASE_URL)" : "embedded PGlite",
    // With REDIS_URL, limits go through Redis: its round trips are real network time in these numbers.
    limits: process.env.REDIS_URL ? "redis (REDIS_URL)" : "memory"
  },
  microsPerRequest: micros,
  ...(allocations !== undefined && { allocatedKiBPerRequest: allocations, survivedScavengeKiBPerRequest: survived }),
  addedMedianMicros: { passthrough: micros.passthrough.median - micros.direct.median, inferline: micros.inferline.median - micros.direct.median }
}
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${writeResult(args.stream ? "request-path-stream" : "request-path", result)}`)
process.exit(0)
