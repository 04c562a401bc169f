/**
 * Inferline next to llama.cpp on the same CPU, in one run: the same random SmolLM2-135M-shaped weights
 * served by Inferline (a 16-bit safetensors checkpoint, through its HTTP server: streaming completions,
 * ignore_eos) and by llama.cpp (node-llama-cpp's prebuilt CPU build, the same weights as an F16 GGUF),
 * one after the other, the same thread count on both sides:
 *   - prefill: a 512-token prompt (tok/s = 512 / time to the first token);
 *   - decode, 1 stream: tokens after the first / time from the first to the last;
 *   - decode, 16 concurrent streams: all tokens / wall time;
 *   - Inferline's /health p99 while the 16 streams run;
 *   - the machine's WASM 128-bit FMA peak (1 and N threads), and Inferline's prefill GFLOP/s against it;
 *   - Inferline's resident memory once loaded, against issue 17's bound: RSS <= 1.3 x the checkpoint's
 *     bytes + the KV pool (test/support/process-memory.ts; bench/memory-after-load.ts measures only that).
 *
 *   node bench/vs-llamacpp.ts [--threads 2] [--repeats 3] [--dtype BF16|F16] [--only inferline|llamacpp]
 *                             [--gguf q8_0|q4_0|q4_k_m|...]   (both sides on the same quantized GGUF file)
 *                             [--serve-args="--tensor-parallel-size 2"]
 *
 * llama.cpp's threads busy-wait: run it on a quiet machine. The foreign CPU load seen just before the run
 * is recorded next to the numbers. Writes bench/results/vs-llamacpp-*.json.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { readGgufHeader } from "../src/engine/gguf/gguf-file.ts"
import { prng } from "../test/support/random-model.ts"
import { servedUrl, spawnServe } from "../test/support/cli-process.ts"
import type { Dtype } from "../test/support/write-checkpoint.ts"
import { writeLlamaGguf } from "../test/support/gguf-writer.ts"
import { settledMemoryAfterLoad } from "../test/support/process-memory.ts"
import { SMOLLM2_135M, writeSmolLm2Checkpoint } from "./lib/smollm2.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"
import { sseEvents } from "./lib/sse-events.ts"
import { wasmFmaPeak } from "./lib/wasm-fma-peak.ts"

const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    repeats: { type: "string", default: "3" },
    dtype: { type: "string", default: "BF16" },
    /** A type tools/hf_to_gguf.py writes: both sides then load that one GGUF file (Inferline serves it as is). */
    gguf: { type: "string" },
    only: { type: "string" },
    "serve-args": { type: "string", default: "" },
    prompt: { type: "string", default: "512" },
    "decode-tokens": { type: "string", default: "128" },
    streams: { type: "string", default: "16" },
    "stream-tokens": { type: "string", default: "64" }
  }
})
const threads = Number(args.threads), repeats = Number(args.repeats)
const PROMPT = Number(args.prompt), DECODE = Number(args["decode-tokens"])
const STREAMS = Number(args.streams), STREAM_TOKENS = Number(args["stream-tokens"])
const dtype = args.dtype as Dtype

/** Share of the machine's CPU time used by other processes over `ms` (this process is idle meanwhile). */
const foreignLoad = async (ms = 2000): Promise<number> => {
  const read = () => {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number)
    return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await new Promise((r) => setTimeout(r, ms))
  const b = read()
  return 1 - (b.idle - a.idle) / (b.total - a.total)
}

/** Distinct token ids for prompt `k` (distinct prompts, so no prefix cache helps either side). */
const promptTokens = (k: number, n: number): Array<number> => {
  const rand = prng(1000 + k)
  return Array.from({ length: n }, () => 300 + Math.floor(rand() * (SMOLLM2_135M.vocab_size - 300)))
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

interface Side {
  prefill: (k: number) => Promise<number>
  decode: (k: number, tokens: number) => Promise<number>
  streams: (k: number) => Promise<{ tokensPerSecond: number; healthP99Ms?: number }>
}

const measure = async (side: Side) => {
  await side.decode(999, 8) // warm-up
  const prefill: Array<number> = [], decode: Array<number> = [], streams: Array<number> = [], health: Array<number> = []
  for (let r = 0; r < repeats; r++) {
    prefill.push(await side.prefill(r))
    decode.push(await side.decode(100 + r, DECODE))
    const s = await side.streams(200 + r * STREAMS)
    streams.push(s.tokensPerSecond)
    if (s.healthP99Ms !== undefined) health.push(s.healthP99Ms)
  }
  return {
    prefillTokensPerSecond: stats(prefill),
    decode1TokensPerSecond: stats(decode),
    [`decode${STREAMS}TokensPerSecond`]: stats(streams),
    ...(health.length > 0 && { healthP99Ms: stats(health) })
  }
}

const llamaCppSide = async (ggufFile: string) => {
  const { getLlama } = await import("node-llama-cpp")
  const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: threads })
  const model = await llama.loadModel({ modelPath: ggufFile })
  const context = await model.createContext({ contextSize: STREAMS * (STREAM_TOKENS + 64) + PROMPT + DECODE + 64, sequences: STREAMS, threads, batchSize: PROMPT })
  const seqs = Array.from({ length: STREAMS }, () => context.getSequence())
  const generate = async (seq: (typeof seqs)[number], prompt: Array<number>, n: number, stamps: Array<number>) => {
    let count = 0
    for await (const _ of seq.evaluate(prompt as never, { temperature: 0 })) {
      stamps.push(performance.now())
      if (++count >= n) break
    }
    await seq.clearHistory()
  }
  const side: Side = {
    async prefill(k) {
      const t0 = performance.now()
      await seqs[0].evaluateWithoutGeneratingNewTokens(promptTokens(k, PROMPT) as never)
      const dt = performance.now() - t0
      await seqs[0].clearHistory()
      return PROMPT / (dt / 1000)
    },
    async decode(k, n) {
      const stamps: Array<number> = []
      await generate(seqs[0], promptTokens(k, 16), n, stamps)
      return (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000)
    },
    async streams(k) {
      const t0 = performance.now()
      const stamps: Array<Array<number>> = seqs.map(() => [])
      await Promise.all(seqs.map((s, i) => generate(s, promptTokens(k + i, 16), STREAM_TOKENS, stamps[i])))
      const total = stamps.reduce((a, s) => a + s.length, 0)
      return { tokensPerSecond: total / ((performance.now() - t0) / 1000) }
    }
  }
  try {
    return { version: "node-llama-cpp 3.21.1", threads, ...(await measure(side)) }
  } finally {
    await context.dispose()
    await model.dispose()
    await llama.dispose()
  }
}

/** One streamed completion: the arrival time of every chunk that carried tokens, and the token count. */
const streamCompletion = async (url: string, prompt: Array<number>, maxTokens: number) => {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench", prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true,
      stream_options: { include_usage: true }
    })
  })
  if (!res.ok || res.body === null) throw new Error(`completion failed: ${res.status} ${await res.text()}`)
  const stamps: Array<number> = []
  let tokens = 0
  for await (const body of sseEvents<{ choices: Array<unknown>; usage?: { completion_tokens: number } }>(res.body)) {
    if (body.choices.length > 0) stamps.push(performance.now())
    if (body.usage) tokens = body.usage.completion_tokens
  }
  if (tokens !== maxTokens) throw new Error(`expected ${maxTokens} tokens, got ${tokens}`)
  return { stamps, tokens }
}

/** `modelPath`: the checkpoint directory or a GGUF file; memory is read against `memoryDir`'s safetensors (null: not read). */
const inferlineSide = async (modelPath: string, memoryDir: string | null) => {
  const extra = args["serve-args"]!.split(/\s+/).filter(Boolean)
  const serve = spawnServe([modelPath, "--port", "0", "--served-model-name", "bench", "--max-num-seqs", String(STREAMS),
    "--no-enable-prefix-caching", "--disable-log-requests", "--kv-cache-memory", "512MiB", ...extra])
  try {
    const url = await servedUrl(serve, 600_000)
    // Resident memory once loaded, before any request, against issue 17's bound (1.3 x checkpoint + KV pool).
    const memory = memoryDir === null ? null : await settledMemoryAfterLoad(serve.child.pid!, memoryDir, serve.output)
    console.log("inferline memory after load", JSON.stringify(memory))
    const side: Side = {
      async prefill(k) {
        const t0 = performance.now()
        const { stamps } = await streamCompletion(url, promptTokens(k, PROMPT), 1)
        return PROMPT / ((stamps[0] - t0) / 1000)
      },
      async decode(k, n) {
        const { stamps, tokens } = await streamCompletion(url, promptTokens(k, 16), n)
        return (tokens - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000)
      },
      async streams(k) {
        let running = true
        const latencies: Array<number> = []
        const probe = (async () => {
          while (running) {
            const t0 = performance.now()
            await (await fetch(`${url}/health`)).arrayBuffer()
            latencies.push(performance.now() - t0)
            await new Promise((r) => setTimeout(r, 10))
          }
        })()
        const t0 = performance.now()
        const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => streamCompletion(url, promptTokens(k + i, 16), STREAM_TOKENS)))
        const secs = (performance.now() - t0) / 1000
        running = false
        await probe
        return { tokensPerSecond: results.reduce((a, r) => a + r.tokens, 0) / secs, healthP99Ms: percentile(latencies, 99) }
      }
    }
    return { serveArgs: extra, weights: args.gguf ?? dtype, rssAfterLoadBytes: memory?.rssAfterLoadBytes ?? null, checkpointBytes: memory?.checkpointBytes ?? null, memory, ...(await measure(side)) }
  } finally {
    serve.child.kill("SIGTERM")
    await serve.exited
  }
}

const main = async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-vs-llamacpp-"))
  const { dir: modelDir, config, weights } = writeSmolLm2Checkpoint(dtype)
  const ggufFile = path.join(work, `model-${args.gguf ?? "f16"}.gguf`)
  if (args.gguf === undefined) writeLlamaGguf(ggufFile, config, weights, "F16")
  else {
    // llama.cpp's own layout and ggml's quantization formulas (NumPy): the file both sides load.
    const python = process.env.INFERLINE_PYTHON ?? "/usr/bin/python3"
    execFileSync(python, [path.join(import.meta.dirname, "..", "tools", "hf_to_gguf.py"), modelDir, ggufFile, "--type", args.gguf, "--quiet"], { stdio: "inherit" })
  }
  const g = readGgufHeader(ggufFile) // the file must read back with Inferline's own reader
  if (g.tensors.size !== 2 + config.numLayers * 9) throw new Error(`GGUF check: ${g.tensors.size} tensors`)
  const load = await foreignLoad()
  console.log(`foreign CPU load before the run: ${(load * 100).toFixed(0)}% of ${os.cpus().length} cores`)
  const peak = await wasmFmaPeak(threads)
  console.log(`WASM 128-bit FMA peak: ${peak.perThreadGflops.toFixed(1)} GFLOP/s on one thread, ${peak.allThreadsGflops.toFixed(1)} on ${threads}`)
  const only = args.only
  const llamacpp = only === "inferline" ? null : await llamaCppSide(ggufFile)
  if (llamacpp) console.log("llama.cpp", JSON.stringify(llamacpp))
  const inferline = only === "llamacpp" ? null : await inferlineSide(args.gguf === undefined ? modelDir : ggufFile, args.gguf === undefined ? modelDir : null)
  if (inferline) console.log("inferline", JSON.stringify(inferline))
  const ratio = (k: string) => {
    const a = inferline?.[k as keyof typeof inferline] as { median: number } | undefined
    const b = llamacpp?.[k as keyof typeof llamacpp] as { median: number } | undefined
    return a && b ? a.median / b.median : null
  }
  const keys = ["prefillTokensPerSecond", "decode1TokensPerSecond", `decode${STREAMS}TokensPerSecond`]
  const ratios = Object.fromEntries(keys.map((k) => [k, ratio(k)]))
  console.log("ratios (inferline / llama.cpp, medians)", ratios)
  // What the medians mean in hardware terms: prefill FLOP/s (matmuls + attention over the 512-token
  // prompt, lm_head once) and decode bytes of 16-bit weights read per second (every weight once per step).
  const c = config, H = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim
  const layerParams = H * qDim + 2 * H * kvDim + qDim * H + 3 * H * c.intermediateSize
  const prefillFlopsPerToken = c.numLayers * (2 * layerParams + 4 * (PROMPT / 2) * qDim) + (2 * H * c.vocabSize) / PROMPT
  // Bytes read per decoded token: 16-bit weights, or the quantized file's tensors (its size, near enough).
  const weightBytes = args.gguf === undefined ? 2 * (c.numLayers * layerParams + c.vocabSize * H) : fs.statSync(ggufFile).size
  const hardware = (side: { prefillTokensPerSecond: { median: number }; decode1TokensPerSecond: { median: number } } | null) => {
    if (side === null) return null
    const prefillGflops = (side.prefillTokensPerSecond.median * prefillFlopsPerToken) / 1e9
    // Against what `threads` threads of WASM 128-bit FMAs can do at all on this machine (Inferline's ceiling).
    return { prefillGflops, prefillShareOfWasmFmaPeak: prefillGflops / peak.allThreadsGflops, decode1WeightGBps: (side.decode1TokensPerSecond.median * weightBytes) / 1e9 }
  }
  const file = writeResult("vs-llamacpp", {
    bench: "vs-llamacpp",
    machine: machineInfo(),
    foreignCpuLoadBefore: load,
    loadavgAfter: os.loadavg(),
    shape: "SmolLM2-135M (random weights)",
    weights: args.gguf === undefined ? `Inferline ${dtype} safetensors, llama.cpp F16 GGUF` : `one ${args.gguf} GGUF file on both sides`,
    threads, repeats, promptTokens: PROMPT, decodeTokens: DECODE, streams: STREAMS, streamTokens: STREAM_TOKENS,
    llamacpp, inferline, ratios,
    hardware: { inferline: hardware(inferline), llamacpp: hardware(llamacpp), wasmFmaPeak: peak, note: "wasmFmaPeak: f32x4.relaxed_madd on 12 accumulators, no loads (bench/lib/wasm-fma-peak.ts); llama.cpp's AVX-512 kernels are not bound by it" }
  })
  console.log(`wrote ${file}`)
  fs.rmSync(work, { recursive: true, force: true })
  fs.rmSync(modelDir, { recursive: true, force: true })
}

await main()
