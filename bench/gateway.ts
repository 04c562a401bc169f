/**
 * What Inferline adds in front of an upstream: the same requests sent to a loopback mock upstream
 * directly and through Inferline as `inferline serve` runs it (real API key with limits, gateway admission,
 * router with retries and cooldown, observer, spend ledger with its journal; keys and ledger in
 * DATABASE_URL's Postgres or embedded PGlite, limits in Redis when REDIS_URL is set), in the same run:
 * - added latency p50/p99 at 1 connection (non-streaming chat), one request at a time, for Inferline and
 *   for a bare Node pass-through proxy (the anchor: the floor any proxy pays on this machine);
 * - added latency to the first chunk of a stream (time to the first body bytes);
 * - max requests/s at 50 connections (autocannon);
 * - the gateway features on top of that, each in an Inferline of its own with the feature configured,
 *   interleaved with the plain one: a response-cache hit (the same deterministic request) and miss
 *   (a new one each time, stored), and time to the first chunk with a during_call deny-list and a
 *   pre_call PII guardrail on.
 * - evaluators: latency with every answer scored by a rule evaluator (100% sampling), vs plain;
 * - control: a second plain Inferline, so each feature's difference can be read against the difference
 *   between two identical processes.
 * Seven processes share the machine: this one (the load generator), the mock upstream, the bare proxy and
 * four Inferlines (only one is sent requests at a time).
 *
 *   node bench/gateway.ts [--requests 3000] [--warmup 40000] [--duration 8] [--connections 50] [--profile DIR] [--inferline-node-flags=--trace-gc]
 *                         [--baseline DIR] [--features-only | --no-features]
 *
 * --baseline DIR adds another Inferline, started from the checkout in DIR (e.g. a `git worktree` of an
 * earlier commit, with its node_modules), as a fourth target of the same interleaved rounds: "no slower
 * than before", measured in one run.
 *
 * Writes bench/results/gateway-*.json with the machine and commit.
 */
import autocannon from "autocannon"
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { chatRequestBody, mockUpstreamHandler } from "./lib/mock-upstream.ts"
import { machineInfo, writeResult } from "./lib/report.ts"
import { BENCH_MASTER_KEY, createBenchKey, fetchAdmin } from "./lib/bench-key.ts"

const { values: args } = parseArgs({
  options: {
    role: { type: "string", default: "driver" },
    requests: { type: "string", default: "3000" },
    /** Warm-up requests per path before measuring (and a quarter as many streams); see drive(). */
    warmup: { type: "string", default: "40000" },
    duration: { type: "string", default: "8" },
    connections: { type: "string", default: "50" },
    upstream: { type: "string" },
    /** Writes a CPU profile of the Inferline process into this directory (node --cpu-prof). */
    profile: { type: "string" },
    /** Extra node flags for the Inferline process (e.g. "--trace-gc"), space-separated. */
    "inferline-node-flags": { type: "string", default: "" },
    /** A checkout of another commit whose Inferline runs as the "baseline" target. */
    baseline: { type: "string" },
    /** Only the features' latencies against plain Inferline (skips the three-way latency and throughput runs). */
    "features-only": { type: "boolean", default: false },
    /** Only the three-way latency and throughput runs (e.g. against a --baseline older than the features). */
    "no-features": { type: "boolean", default: false }
  }
})

const CHAT_BODY = chatRequestBody(false)
const STREAM_BODY = chatRequestBody(true)
/** A deterministic request (temperature 0): what the response cache keeps. */
const deterministic = (content: string) => JSON.stringify({ model: "mock", messages: [{ role: "user", content }], max_tokens: 16, temperature: 0 })
const HIT_BODY = deterministic("Say hello.")
/** A new deterministic request each time (a miss that is stored); the run's prefix keeps runs apart. */
const runPrefix = Date.now().toString(36)
let uniqueCount = 0
const uniqueBody = () => deterministic(`Say hello, ${runPrefix}-${uniqueCount++}.`)

/** The features' configs (merged into the plain Inferline's). */
const CACHE_CONFIG = { cache: { type: "local", ttl: 3600 } }
const GUARDRAIL_CONFIG = {
  guardrails: [
    { guardrail_name: "pii", litellm_params: { guardrail: "pii", mode: "pre_call", default_on: true, action: "mask", reversible: true } },
    { guardrail_name: "deny", litellm_params: { guardrail: "deny_list", mode: "during_call", default_on: true, phrases: ["internal only", "project falcon"] } }
  ]
}
/** Every answer scored (100% sampling) by a rule evaluator: scoring runs off the request path. */
const EVALUATOR_CONFIG = {
  evaluators: [{ name: "no-apologies", type: "not_contains", phrases: ["as an AI", "I apologize"], sample_rate: 1 }]
}

/** The mock upstream (bench/lib/mock-upstream.ts) on a loopback port. */
const runMock = () => {
  const server = http.createServer(mockUpstreamHandler)
  server.keepAliveTimeout = 60_000
  server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })))
}

/**
 * The floor for any proxy on this machine (the anchor): a bare Node pass-through, keep-alive to the
 * upstream, no parsing, no auth — what "a 30-line Node proxy" means in the issue.
 */
const runPassthrough = (upstream: string) => {
  const target = new URL(upstream)
  const agent = new http.Agent({ keepAlive: true })
  const server = http.createServer((req, res) => {
    const out = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { "content-type": req.headers["content-type"] ?? "application/json" }, agent }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    out.on("error", () => res.destroy())
    req.pipe(out)
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })))
}

/**
 * Inferline as `npm start` runs it (bin/inferline.js serve): a router group "mock" on the mock upstream
 * from a LiteLLM-style config file, API keys on (master key), the spend ledger and its journal on, keys
 * and ledger rows in DATABASE_URL's Postgres (embedded PGlite when unset), limits in Redis when REDIS_URL
 * is set. A team and a key with high limits are created through the admin API.
 */
const startInferline = async (upstream: string, features: Record<string, unknown> = {}, checkout?: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-bench-"))
  const config = path.join(dir, "config.json")
  fs.writeFileSync(config, JSON.stringify({
    model_list: [{ model_name: "mock", litellm_params: { model: "openai/mock", api_base: `${upstream}/v1`, rpm: 100_000_000 } }],
    router_settings: { routing_strategy: "simple-shuffle", num_retries: 2, allowed_fails: 3, cooldown_time: 5 },
    ...features
  }))
  const bin = checkout === undefined ? fileURLToPath(new URL("../bin/inferline.js", import.meta.url)) : path.resolve(checkout, "bin/inferline.js")
  const profile = args.profile === undefined ? [] : ["--cpu-prof", "--cpu-prof-interval", "250", "--cpu-prof-dir", path.resolve(args.profile)]
  const flags = args["inferline-node-flags"].split(" ").filter((f) => f !== "")
  const child = spawn(process.execPath, [...flags, ...profile, bin, "serve", "--config", config, "--port", "0", "--master-key", BENCH_MASTER_KEY, "--disable-log-requests"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, INFERLINE_LEDGER_DIR: path.join(dir, "journal"), INFERLINE_DATA_DIR: path.join(dir, "data") }
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (c) => {
      out += c
      const match = /Serving model .* at (http:\/\/\S+)/.exec(out)
      if (match) {
        // From here on its output (e.g. --trace-gc lines) goes to ours.
        child.stdout!.removeAllListeners("data")
        child.stdout!.pipe(process.stderr)
        resolve(match[1])
      }
    })
    child.on("exit", (code) => reject(new Error(`inferline exited with ${code}: ${out}`)))
  })
  const key = await createBenchKey(fetchAdmin(url))
  return { child, port: Number(new URL(url).port), key, database: process.env.DATABASE_URL ? "postgres (DATABASE_URL)" : "embedded PGlite", limits: process.env.REDIS_URL ? "redis (REDIS_URL)" : "memory" }
}

/** Starts this file in another role and resolves with the JSON line it prints when ready. */
const spawnRole = (role: string, extra: ReadonlyArray<string> = []) =>
  new Promise<{ child: ChildProcess; info: any }>((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--role", role, ...extra], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout!.on("data", (c) => {
      out += c
      const line = out.split("\n").find((l) => l.startsWith("{"))
      if (line) resolve({ child, info: JSON.parse(line) })
    })
    child.on("exit", (code) => reject(new Error(`${role} exited with ${code}`)))
  })

const gitCommit = (dir: string) => execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).trim()

const percentile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const summary = (micros: Array<number>) => {
  const s = micros.sort((a, b) => a - b)
  const r = (x: number) => Math.round(x)
  return { p50: r(percentile(s, 0.5)), p90: r(percentile(s, 0.9)), p99: r(percentile(s, 0.99)), max: r(s[s.length - 1]) }
}

/**
 * One request at a time on one kept-alive connection; returns microseconds per request, to the end
 * of the body (`untilFirstChunk`: to its first bytes).
 */
const sequential = async (port: number, body: string | (() => string), headers: Record<string, string>, n: number, untilFirstChunk: boolean) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const times: Array<number> = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json", ...headers } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`))
        let first = true
        res.on("data", () => {
          if (first && untilFirstChunk) times.push((performance.now() - t0) * 1000)
          first = false
        })
        res.on("end", () => {
          if (!untilFirstChunk) times.push((performance.now() - t0) * 1000)
          resolve()
        })
      })
      req.on("error", reject)
      req.end(typeof body === "string" ? body : body())
    })
  }
  agent.destroy()
  return times
}

const throughput = (port: number, headers: Record<string, string>, connections: number, duration: number) =>
  new Promise<{ rps: number; latencyP50Ms: number; latencyP99Ms: number; non2xx: number; errors: number }>((resolve, reject) => {
    autocannon({
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: CHAT_BODY,
      connections,
      duration
    }, (err, result) => {
      if (err) return reject(err)
      resolve({ rps: Math.round(result.requests.average), latencyP50Ms: result.latency.p50, latencyP99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors })
    })
  })

const drive = async () => {
  const requests = Number(args.requests)
  const duration = Number(args.duration)
  const connections = Number(args.connections)
  const mock = await spawnRole("mock")
  const upstream = `http://127.0.0.1:${mock.info.port}`
  const passthrough = await spawnRole("passthrough", ["--upstream", upstream])
  const inferline = await startInferline(upstream)
  const withFeatures = !args["no-features"]
  const cached = withFeatures ? await startInferline(upstream, CACHE_CONFIG) : undefined
  const guarded = withFeatures ? await startInferline(upstream, GUARDRAIL_CONFIG) : undefined
  const evaluated = withFeatures ? await startInferline(upstream, EVALUATOR_CONFIG) : undefined
  // A second plain Inferline: how far two identical processes differ is the noise the features are read against.
  const control = withFeatures ? await startInferline(upstream) : undefined
  const baseline = args.baseline === undefined ? undefined : await startInferline(upstream, {}, args.baseline)
  const auth = { authorization: `Bearer ${inferline.key}` }
  // The same requests three ways: to the mock itself, through the bare proxy (the anchor), through Inferline
  // (and through the baseline checkout's Inferline when given).
  const targets: ReadonlyArray<{ readonly name: "direct" | "passthrough" | "inferline" | "baseline"; readonly port: number; readonly headers: Record<string, string> }> = [
    { name: "direct", port: mock.info.port as number, headers: {} },
    { name: "passthrough", port: passthrough.info.port as number, headers: {} },
    { name: "inferline", port: inferline.port, headers: auth },
    ...(baseline === undefined ? [] : [{ name: "baseline" as const, port: baseline.port, headers: { authorization: `Bearer ${baseline.key}` } }])
  ]
  try {
    // Warm every path (JIT, connection pools, key cache). V8 keeps optimizing for tens of thousands of
    // requests: with 1,000 warm-up requests, TurboFan was still compiling in the measured window (in
    // Inferline's V8 worker threads, whose bursts then hold a core the chain needs), and the 1-connection
    // p99 of all three paths came out 2x their steady state (see bench/gateway-tail.ts --warmup).
    const warmup = Number(args.warmup)
    if (args["features-only"]) {
      const features = await measureFeatures({ port: inferline.port, headers: auth, child: inferline.child }, cached!, guarded!, evaluated!, control!, requests, warmup)
      const result = { machine: machineInfo(), setup: { requestsPerLatencyRun: requests, warmupPerPath: warmup, database: inferline.database, limits: inferline.limits }, features }
      console.log(JSON.stringify(result, null, 2))
      console.log(`wrote ${writeResult("gateway-features", result)}`)
      return
    }
    for (const t of targets) {
      await sequential(t.port, CHAT_BODY, t.headers, warmup, false)
      await sequential(t.port, STREAM_BODY, t.headers, Math.ceil(warmup / 4), true)
    }
    // Interleaved rounds, so drift (thermal, other load) hits every path alike.
    const whole = targets.map(() => [] as Array<number>), first = targets.map(() => [] as Array<number>)
    const rounds = 5
    for (let r = 0; r < rounds; r++) {
      for (const [i, t] of targets.entries()) {
        whole[i].push(...await sequential(t.port, CHAT_BODY, t.headers, requests / rounds, false))
        first[i].push(...await sequential(t.port, STREAM_BODY, t.headers, requests / rounds / 3, true))
      }
    }
    const byTarget = <A>(f: (i: number) => A) => Object.fromEntries(targets.map((t, i) => [t.name, f(i)])) as Record<"direct" | "passthrough" | "inferline", A> & { baseline?: A }
    const withAdded = (samples: Array<Array<number>>) => {
      const s = byTarget((i) => summary(samples[i]))
      const added = (x: { p50: number; p99: number }) => ({ p50: x.p50 - s.direct.p50, p99: x.p99 - s.direct.p99 })
      return { ...s, added: { passthrough: added(s.passthrough), inferline: added(s.inferline), ...(s.baseline === undefined ? {} : { baseline: added(s.baseline) }) } }
    }
    const features = withFeatures ? await measureFeatures({ port: inferline.port, headers: auth, child: inferline.child }, cached!, guarded!, evaluated!, control!, requests, warmup) : null
    const load: Array<Awaited<ReturnType<typeof throughput>>> = []
    for (const t of targets) load.push(await throughput(t.port, t.headers, connections, duration))
    const result = {
      machine: machineInfo(),
      setup: {
        requestsPerLatencyRun: requests, warmupPerPath: Number(args.warmup), connections, durationSeconds: duration,
        ledgerBatchRows: process.env.INFERLINE_LEDGER_BATCH_ROWS ?? "default",
        note: "mock upstream, bare pass-through proxy, Inferline and the load generator are separate processes on the same machine",
        database: inferline.database, limits: inferline.limits,
        baseline: args.baseline === undefined ? null : { checkout: path.resolve(args.baseline), commit: gitCommit(args.baseline) }
      },
      oneConnectionMicros: withAdded(whole),
      firstChunkMicros: withAdded(first),
      maxThroughput: byTarget((i) => load[i]),
      features,
      targets: {
        addedP50Micros: 700, addedP99Micros: 2000, rpsAt50Connections: 1700, addedFirstChunkMicros: 1000,
        cacheHitOverGatewayP50Micros: 1000, cacheMissAddedP50Micros: 200, guardrailAddedFirstChunkP50Micros: 5000, evaluatorAddedP50Micros: 0
      }
    }
    console.log(JSON.stringify(result, null, 2))
    console.log(`wrote ${writeResult("gateway", result)}`)
  } finally {
    for (const child of [mock.child, passthrough.child, inferline.child, cached?.child, guarded?.child, evaluated?.child, control?.child, baseline?.child]) child?.kill()
  }
}

/**
 * The features against the plain Inferline, in interleaved rounds after the same warm-up:
 * - cache hit: the same deterministic request to the cached Inferline (answered from the cache) vs the
 *   plain one's p50 for it (through to the upstream): a hit should cost at most the gateway's own p50 + 1 ms;
 * - cache miss: a new deterministic request each time, to both (the cached one hashes, looks up, stores);
 * - guardrails: time to the first chunk of a stream with the pii and deny-list guardrails on, vs plain;
 * - evaluators: a whole answer and a stream's first chunk with every answer scored, vs plain (scoring
 *   is off the request path, so the target is "unchanged within noise").
 */
const measureFeatures = async (
  plain: { readonly port: number; readonly headers: Record<string, string>; readonly child: ChildProcess },
  cached: { readonly port: number; readonly key: string; readonly child: ChildProcess },
  guarded: { readonly port: number; readonly key: string; readonly child: ChildProcess },
  evaluated: { readonly port: number; readonly key: string; readonly child: ChildProcess },
  control: { readonly port: number; readonly key: string; readonly child: ChildProcess },
  requests: number,
  warmup: number
) => {
  const auth = (key: string) => ({ authorization: `Bearer ${key}` })
  const paths = {
    plainHit: [plain.port, HIT_BODY, plain.headers, false, plain.child],
    cacheHit: [cached.port, HIT_BODY, auth(cached.key), false, cached.child],
    plainMiss: [plain.port, uniqueBody, plain.headers, false, plain.child],
    cacheMiss: [cached.port, uniqueBody, auth(cached.key), false, cached.child],
    plainFirstChunk: [plain.port, STREAM_BODY, plain.headers, true, plain.child],
    guardedFirstChunk: [guarded.port, STREAM_BODY, auth(guarded.key), true, guarded.child],
    plainWhole: [plain.port, CHAT_BODY, plain.headers, false, plain.child],
    evaluatedWhole: [evaluated.port, CHAT_BODY, auth(evaluated.key), false, evaluated.child],
    evaluatedFirstChunk: [evaluated.port, STREAM_BODY, auth(evaluated.key), true, evaluated.child],
    controlWhole: [control.port, CHAT_BODY, auth(control.key), false, control.child],
    controlFirstChunk: [control.port, STREAM_BODY, auth(control.key), true, control.child]
  } as const
  const names = Object.keys(paths) as Array<keyof typeof paths>
  for (const name of names) {
    const [port, body, headers, firstChunk] = paths[name]
    await sequential(port, body, headers, firstChunk ? Math.ceil(warmup / 4) : warmup / 2, firstChunk)
  }
  const samples = Object.fromEntries(names.map((n) => [n, [] as Array<number>])) as Record<keyof typeof paths, Array<number>>
  // The serving process's CPU time (all its threads) while each path ran: what a feature costs in CPU,
  // free of the latency noise of a loopback run (work done after the response counts too).
  const cpu = Object.fromEntries(names.map((n) => [n, 0])) as Record<keyof typeof paths, number>
  // Rounds in a shuffled order each (seeded): what runs just before a path (another process's trailing
  // ledger flush, say) must not always be the same for one path and different for the path it is compared with.
  const rounds = 10
  let seed = 12345
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  for (let r = 0; r < rounds; r++) {
    const order = [...names]
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    for (const name of order) {
      const [port, body, headers, firstChunk, child] = paths[name]
      const before = cpuMicros(child.pid!)
      samples[name].push(...await sequential(port, body, headers, requests / rounds / (firstChunk ? 3 : 1), firstChunk))
      // Scoring runs after the answers (within 20 ms): wait for it before reading the clock.
      await new Promise((resolve) => setTimeout(resolve, 50))
      cpu[name] += cpuMicros(child.pid!) - before
    }
  }
  const s = Object.fromEntries(names.map((n) => [n, summary(samples[n])])) as Record<keyof typeof paths, ReturnType<typeof summary>>
  const cpuPerRequest = Object.fromEntries(names.map((n) => [n, Math.round(cpu[n] / samples[n].length)])) as Record<keyof typeof paths, number>
  return {
    micros: s,
    cpuMicrosPerRequest: cpuPerRequest,
    evaluatorAddedCpuMicros: cpuPerRequest.evaluatedWhole - cpuPerRequest.plainWhole,
    controlDifferenceCpuMicros: cpuPerRequest.controlWhole - cpuPerRequest.plainWhole,
    cacheHitOverGatewayP50Micros: s.cacheHit.p50 - s.plainHit.p50,
    cacheMissAddedP50Micros: s.cacheMiss.p50 - s.plainMiss.p50,
    guardrailAddedFirstChunkP50Micros: s.guardedFirstChunk.p50 - s.plainFirstChunk.p50,
    evaluatorAddedP50Micros: s.evaluatedWhole.p50 - s.plainWhole.p50,
    evaluatorAddedP99Micros: s.evaluatedWhole.p99 - s.plainWhole.p99,
    evaluatorAddedFirstChunkP50Micros: s.evaluatedFirstChunk.p50 - s.plainFirstChunk.p50,
    // The same differences between two plain processes: the noise floor of the lines above.
    controlDifferenceP50Micros: s.controlWhole.p50 - s.plainWhole.p50,
    controlDifferenceP99Micros: s.controlWhole.p99 - s.plainWhole.p99,
    controlDifferenceFirstChunkP50Micros: s.controlFirstChunk.p50 - s.plainFirstChunk.p50
  }
}

/** A process's CPU time so far (user + system, all threads), from /proc (clock ticks of 10 ms). */
const cpuMicros = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

if (args.role === "mock") runMock()
else if (args.role === "passthrough") runPassthrough(args.upstream!)
else await drive()
