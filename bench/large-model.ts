/**
 * A model over 4 GiB, side by side with llama.cpp on the same file: Llama 3 8B's shape at Q4_K_M (~4.9 GB,
 * random blocks from tools/make_random_gguf.py, written once to --file), served by `inferline serve FILE`
 * (weights beyond the main wasm32 memory go to weight memories) and loaded by llama.cpp (node-llama-cpp's
 * prebuilt CPU build), one after the other, the same thread count:
 *   - load: seconds until the server listens (Inferline) / loadModel resolves (llama.cpp, mmap);
 *   - Inferline's resident memory once loaded, against the file's size (one copy of the weights);
 *   - prefill of a 64-token prompt (time to the first token) and greedy decode of 16 tokens;
 *   - the greedy tokens of both sides, and Inferline's top-2 logprob margin at each (random weights make
 *     near-ties common; llama.cpp quantizes activations to 8 bits, Inferline does not).
 *
 *   node bench/large-model.ts [--file /tmp/inferline-llama3-8b-q4_k_m.gguf] [--threads 2] [--repeats 2]
 *
 * Writes bench/results/large-model-*.json.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { prng } from "../test/support/random-model.ts"
import { servedUrl, spawnServe } from "../test/support/cli-process.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"
import { sseEvents } from "./lib/sse-events.ts"

const { values: args } = parseArgs({
  options: {
    file: { type: "string", default: path.join(os.tmpdir(), "inferline-llama3-8b-q4_k_m.gguf") },
    threads: { type: "string", default: "2" },
    repeats: { type: "string", default: "2" }
  }
})
const file = args.file!, threads = Number(args.threads), repeats = Number(args.repeats)
const PROMPT = 64, DECODE = 16

if (!fs.existsSync(file)) {
  const tool = path.join(import.meta.dirname, "..", "tools", "make_random_gguf.py")
  execFileSync("/usr/bin/python3", [tool, file, "--shape", "llama3-8b", "--type", "q4_k_m"], { stdio: "inherit" })
}

/** Token ids of the bundled tokenizer's real vocabulary (the file pads it to 128,256 unused ids). */
const promptTokens = (k: number): Array<number> => {
  const rand = prng(500 + k)
  return Array.from({ length: PROMPT }, () => 300 + Math.floor(rand() * 3700))
}

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024

interface Run {
  readonly prefillTokensPerSecond: number
  readonly decodeTokensPerSecond: number
  readonly tokens: ReadonlyArray<number>
  readonly margins?: ReadonlyArray<number>
}

/** One streamed greedy completion with the top 2 logprobs of each token (as token ids). */
const inferlineRun = async (url: string, k: number): Promise<Run> => {
  const t0 = performance.now()
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "bench", prompt: promptTokens(k), max_tokens: DECODE, temperature: 0, ignore_eos: true, stream: true, logprobs: 2, return_tokens_as_token_ids: true })
  })
  if (!res.ok || res.body === null) throw new Error(`completion failed: ${res.status} ${await res.text()}`)
  const stamps: Array<number> = [], tokens: Array<number> = [], margins: Array<number> = []
  type Chunk = { choices: Array<{ logprobs?: { tokens: Array<string>; top_logprobs: Array<Record<string, number>> } }> }
  for await (const body of sseEvents<Chunk>(res.body)) {
    const lp = body.choices[0]?.logprobs
    if (lp === undefined || lp === null) continue
    for (let i = 0; i < lp.tokens.length; i++) {
      stamps.push(performance.now())
      tokens.push(Number(lp.tokens[i].slice("token_id:".length)))
      const top = Object.values(lp.top_logprobs[i]).sort((a, b) => b - a)
      margins.push(top[0] - (top[1] ?? -Infinity))
    }
  }
  if (tokens.length !== DECODE) throw new Error(`expected ${DECODE} tokens, got ${tokens.length}`)
  return {
    prefillTokensPerSecond: PROMPT / ((stamps[0] - t0) / 1000),
    decodeTokensPerSecond: (DECODE - 1) / ((stamps[DECODE - 1] - stamps[0]) / 1000),
    tokens,
    margins
  }
}

const inferlineSide = async () => {
  const t0 = performance.now()
  const serve = spawnServe([file, "--port", "0", "--served-model-name", "bench", "--tensor-parallel-size", String(threads), "--no-enable-prefix-caching", "--disable-log-requests", "--max-model-len", "1024"])
  try {
    const url = await servedUrl(serve, 900_000)
    const loadSeconds = (performance.now() - t0) / 1000
    const rss = rssBytes(serve.child.pid!)
    const log = /weights: [^\n]*/.exec(serve.output())?.[0] ?? ""
    console.log(`inferline: listening after ${loadSeconds.toFixed(1)} s, RSS ${(rss / 1e9).toFixed(2)} GB; ${log}`)
    const runs: Array<Run> = []
    for (let r = 0; r < repeats; r++) {
      runs.push(await inferlineRun(url, r))
      console.log("inferline", JSON.stringify(runs.at(-1)))
    }
    return { loadSeconds, rssBytes: rss, weightsLog: log, runs }
  } finally {
    serve.child.kill("SIGTERM")
    await serve.exited
  }
}

const llamaCppSide = async () => {
  const { getLlama } = await import("node-llama-cpp")
  const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: threads })
  const t0 = performance.now()
  const model = await llama.loadModel({ modelPath: file })
  const loadSeconds = (performance.now() - t0) / 1000
  const context = await model.createContext({ contextSize: 256, threads, batchSize: PROMPT })
  const seq = context.getSequence()
  const runs: Array<Run> = []
  try {
    for (let r = 0; r < repeats; r++) {
      const start = performance.now(), stamps: Array<number> = [], tokens: Array<number> = []
      for await (const t of seq.evaluate(promptTokens(r) as never, { temperature: 0 })) {
        stamps.push(performance.now())
        tokens.push(t as unknown as number)
        if (tokens.length >= DECODE) break
      }
      await seq.clearHistory()
      runs.push({ prefillTokensPerSecond: PROMPT / ((stamps[0] - start) / 1000), decodeTokensPerSecond: (DECODE - 1) / ((stamps[DECODE - 1] - stamps[0]) / 1000), tokens })
      console.log("llama.cpp", JSON.stringify(runs.at(-1)))
    }
    return { version: "node-llama-cpp 3.21.1", loadSeconds, runs }
  } finally {
    await context.dispose()
    await model.dispose()
    await llama.dispose()
  }
}

const inferline = await inferlineSide()
const llamacpp = await llamaCppSide()
const agreement = inferline.runs.map((run, r) => {
  const other = llamacpp.runs[r].tokens
  const firstDifference = run.tokens.findIndex((t, i) => t !== other[i])
  return { sameTokens: firstDifference < 0 ? DECODE : firstDifference, marginAtFirstDifference: firstDifference < 0 ? null : run.margins![firstDifference] }
})
const ratio = (f: (r: Run) => number) => stats(inferline.runs.map(f)).median / stats(llamacpp.runs.map(f)).median
const result = {
  machine: machineInfo(),
  file: { path: file, bytes: fs.statSync(file).size, shape: "llama3-8b", type: "q4_k_m (random blocks, tools/make_random_gguf.py)" },
  threads,
  inferline: { ...inferline, prefillTokensPerSecond: stats(inferline.runs.map((r) => r.prefillTokensPerSecond)), decodeTokensPerSecond: stats(inferline.runs.map((r) => r.decodeTokensPerSecond)), rssOverFileBytes: inferline.rssBytes / fs.statSync(file).size },
  llamacpp: { ...llamacpp, prefillTokensPerSecond: stats(llamacpp.runs.map((r) => r.prefillTokensPerSecond)), decodeTokensPerSecond: stats(llamacpp.runs.map((r) => r.decodeTokensPerSecond)) },
  ratios: { prefill: ratio((r) => r.prefillTokensPerSecond), decode: ratio((r) => r.decodeTokensPerSecond) },
  agreement
}
console.log(JSON.stringify({ ratios: result.ratios, agreement, loadSeconds: [inferline.loadSeconds, llamacpp.loadSeconds], rssOverFile: result.inferline.rssOverFileBytes }))
console.log(`wrote ${writeResult("large-model", result)}`)
