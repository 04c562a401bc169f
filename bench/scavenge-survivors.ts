/**
 * What a request leaves for the young-generation GC: KiB per request that survive a scavenge in an
 * Inferline server on real TCP (this process runs `inferline serve` in-process; a child process is the
 * client; the mock upstream is another). After a warm-up, two forced scavenges, `--requests` sequential
 * requests (few enough that no scavenge runs meanwhile) and one forced scavenge: what is left in the young
 * generation is what those requests left reachable from roots or from the old generation. A full GC right
 * after collects nearly all of it (see `retainedAfterFullGcKiBPerRequest`, measured with more requests):
 * it is not live, yet every scavenge copies it and then promotes it, which is where the 5-15 ms scavenge
 * pauses and the frequent mark-compacts of the Inferline process come from.
 *
 *   node bench/scavenge-survivors.ts [--route chat|stream|local|models|health|badjson] [--requests 400] [--sites]
 *
 * --sites: samples the survivors' allocation sites (V8 sampling heap profiler) and prints the largest
 * (allocation sites, not retainers; the profiler's own allocations show up as node:inspector frames).
 * Writes bench/results/scavenge-survivors-*.json with the machine and commit.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as inspector from "node:inspector/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { chatRequestBody } from "./lib/mock-upstream.ts"
import { machineInfo, writeResult } from "./lib/report.ts"
import { BENCH_MASTER_KEY, createBenchKey, fetchAdmin } from "./lib/bench-key.ts"

const { values: args } = parseArgs({
  options: {
    role: { type: "string", default: "server" },
    route: { type: "string", default: "chat" },
    requests: { type: "string", default: "400" },
    port: { type: "string" },
    key: { type: "string" },
    sites: { type: "boolean", default: false }
  }
})
const n = Number(args.requests)
const route = args.route!

if (args.role === "client") {
  // One kept-alive connection, one request at a time; the server says when to start and stop.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const post = route === "chat" || route === "stream" || route === "badjson" || route === "local"
  // local: the served model (the bundled one) through the engine, 4 tokens.
  const body = route === "badjson" ? "{" : route === "local" ? JSON.stringify({ model: "inferline-kjv", messages: [{ role: "user", content: "In the beginning" }], max_tokens: 4 }) : chatRequestBody(route === "stream")
  const send = () => new Promise<void>((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1", port: Number(args.port), method: post ? "POST" : "GET", agent,
      path: post ? "/v1/chat/completions" : route === "models" ? "/v1/models" : "/health",
      headers: { "content-type": "application/json", authorization: `Bearer ${args.key}` }
    }, (res) => {
      if ((res.statusCode ?? 0) >= 300 && route !== "badjson") reject(new Error(`${route}: status ${res.statusCode}`))
      res.resume()
      res.on("end", () => resolve())
    })
    req.on("error", reject)
    req.end(post ? body : undefined)
  })
  const next = () => new Promise((resolve) => process.once("message", resolve))
  for (let i = 0; i < 1000; i++) await send()
  process.send!("warm")
  await next()
  for (let i = 0; i < n; i++) await send()
  process.send!("done")
  await next()
  process.exit(0)
}

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as (options: { type: "minor" | "major"; execution: "sync" }) => void
const youngBytes = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_used_size
const self = fileURLToPath(import.meta.url)

const mock = spawn(process.execPath, [fileURLToPath(new URL("./gateway.ts", import.meta.url)), "--role", "mock"], { stdio: ["ignore", "pipe", "inherit"] })
const mockPort = await new Promise<number>((resolve) => mock.stdout!.once("data", (c) => resolve(JSON.parse(String(c)).port)))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-survivors-"))
const config = path.join(dir, "config.json")
fs.writeFileSync(config, JSON.stringify({ model_list: [{ model_name: "mock", litellm_params: { model: "openai/mock", api_base: `http://127.0.0.1:${mockPort}/v1`, rpm: 100_000_000 } }] }))
process.env.INFERLINE_LEDGER_DIR = path.join(dir, "journal")
process.env.INFERLINE_DATA_DIR = path.join(dir, "data")
const { main } = await import("../src/cli.ts")
const log = console.log
const url = await new Promise<string>((resolve) => {
  console.log = (...a: Array<unknown>) => {
    const m = /^Serving model .* at (http:\/\/\S+)/.exec(String(a[0]))
    if (m) resolve(m[1])
  }
  main(["serve", "--config", config, "--port", "0", "--master-key", BENCH_MASTER_KEY, "--disable-log-requests"])
})
console.log = log
const key = await createBenchKey(fetchAdmin(url), ["mock", "inferline-kjv"])

/** One client run: resolves with the young bytes that survived the requests, and the sampled sites. */
const measure = (requests: number, sample: boolean) => new Promise<{ survived: number; retained: number; sites: Array<[string, number]> }>((resolve) => {
  const client = spawn(process.execPath, [self, "--role", "client", "--route", route, "--requests", String(requests), "--port", new URL(url).port, "--key", key], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const session = new inspector.Session()
  session.connect()
  let before = 0, heapBefore = 0
  client.on("message", async (m) => {
    if (m === "warm") {
      gc({ type: "major", execution: "sync" })
      heapBefore = v8.getHeapStatistics().used_heap_size
      gc({ type: "minor", execution: "sync" })
      gc({ type: "minor", execution: "sync" })
      if (sample) await session.post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMajorGC: true })
      before = youngBytes()
      client.send("go")
      return
    }
    gc({ type: "minor", execution: "sync" })
    const survived = youngBytes() - before
    const sites: Array<[string, number]> = []
    if (sample) {
      const { profile } = await session.post("HeapProfiler.stopSampling")
      const bySite = new Map<string, number>()
      const walk = (node: any, stack: Array<string>) => {
        const frame = `${node.callFrame.functionName || "(anonymous)"} ${path.basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`
        const here = [frame, ...stack]
        if (node.selfSize > 0) bySite.set(here.slice(0, 3).join(" < "), (bySite.get(here.slice(0, 3).join(" < ")) ?? 0) + node.selfSize)
        node.children.forEach((c: any) => walk(c, here))
      }
      walk(profile.head, [])
      sites.push(...[...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25))
    }
    gc({ type: "major", execution: "sync" })
    const retained = v8.getHeapStatistics().used_heap_size - heapBefore
    session.disconnect()
    client.send("bye")
    client.on("exit", () => resolve({ survived, retained, sites }))
  })
})

const short = await measure(n, args.sites!)
// Enough requests for scavenges to run meanwhile: what is still alive after a full GC.
const long = await measure(4 * n, false)
const kib = (bytes: number, requests: number) => Math.round(bytes / requests / 102.4) / 10
const result = {
  machine: machineInfo(),
  setup: { route, requests: n, database: process.env.DATABASE_URL ? "postgres (DATABASE_URL)" : "embedded PGlite", limits: process.env.REDIS_URL ? "redis (REDIS_URL)" : "memory" },
  survivedScavengeKiBPerRequest: kib(short.survived, n),
  retainedAfterFullGcKiBPerRequest: kib(long.retained, 4 * n),
  ...(args.sites && { survivorSitesBytesPerRequest: Object.fromEntries(short.sites.map(([site, bytes]) => [site, Math.round(bytes / n)])) })
}
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${writeResult(`scavenge-survivors-${route}`, result)}`)
mock.kill()
process.exit(0)
