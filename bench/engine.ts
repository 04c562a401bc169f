/**
 * Engine benchmark (through the Engine service: actor loop + worker executor):
 * - output tokens/s at concurrency 1, 4, 16, 64 on the bundled model (greedy, 64 new tokens each);
 * - TTFT p50/p99 for requests sharing a 1,000-token system prompt, prefix caching on vs off (the anchor);
 * - scheduler overhead per step at 64 running sequences with a null executor (no model).
 *
 *   node bench/engine.ts [--repeats 3] [--model DIR]
 *
 * Run it on an otherwise idle machine. Writes bench/results/engine-*.json.
 */
import { Effect, Stream } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Engine } from "../src/actors/engine.ts"
import { EngineCore, type ModelExecutor } from "../src/engine/engine-core.ts"
import { loadModelDir } from "../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../src/engine/scheduler.ts"
import { makeEngineFromModel } from "../src/layers/engine.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({
  options: {
    repeats: { type: "string", default: "3" },
    model: { type: "string", default: path.join(import.meta.dirname, "..", "models", "inferline-kjv") }
  }
})
const repeats = Number(args.repeats)
const loaded = loadModelDir(args.model!)
const V = loaded.config.vocabSize
const token = (i: number) => 3 + (i % (V - 3))

// 64 MiB of KV per engine (64 streams of 96 tokens take 24 MiB): every engine takes its pool from the one
// process-wide tensor arena (4 GiB, never returned), and this script makes 18 engines; at the 256 MiB
// default they no longer fit.
const withEngine = <A>(options: { enablePrefixCaching: boolean }, f: (e: Engine["Service"]) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(makeEngineFromModel(loaded, { enablePrefixCaching: options.enablePrefixCaching, maxNumSeqs: 64, kvCacheMemoryBytes: 64 * 2 ** 20 }), f))
  )

const throughput = async (concurrency: number) => {
  const NEW = 64
  const runs: Array<number> = []
  for (let r = 0; r < repeats; r++) {
    const secs = await withEngine({ enablePrefixCaching: false }, (engine) =>
      Effect.gen(function*() {
        const t0 = performance.now()
        const counts = yield* Effect.forEach(
          Array.from({ length: concurrency }, (_, i) => i),
          (i) =>
            engine.generate({
              promptTokenIds: Array.from({ length: 32 }, (_, j) => token(i * 101 + j * 7 + r)),
              params: defaultSamplingParams({ temperature: 0, maxTokens: NEW, ignoreEos: true })
            }).pipe(Stream.runFold(() => 0, (n, d) => n + d.tokenIds.length)),
          { concurrency: "unbounded" }
        )
        if (counts.some((c) => c !== NEW)) throw new Error(`expected ${NEW} tokens per request, got ${counts}`)
        return (performance.now() - t0) / 1000
      }))
    runs.push((concurrency * NEW) / secs)
  }
  return stats(runs)
}

const sharedPrefixTtft = async (enablePrefixCaching: boolean) => {
  const REQUESTS = 16
  const system = Array.from({ length: 1000 }, (_, i) => token(i * 13))
  const ttfts: Array<number> = [], cold: Array<number> = []
  for (let r = 0; r < repeats; r++) {
    await withEngine({ enablePrefixCaching }, (engine) =>
      Effect.forEach(Array.from({ length: REQUESTS }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const t0 = performance.now()
          yield* engine.generate({
            promptTokenIds: [...system, ...Array.from({ length: 20 }, (_, j) => token(r * 1000 + i * 20 + j))],
            params: defaultSamplingParams({ temperature: 0, maxTokens: 1, ignoreEos: true })
          }).pipe(Stream.runDrain)
          // maxTokens 1: the request ends with its first token, so this is its TTFT. Each repeat starts a
          // fresh engine: its first request is cold either way and is reported apart.
          const ttft = (performance.now() - t0) / 1000
          if (i === 0) cold.push(ttft)
          else ttfts.push(ttft)
        })))
  }
  const s = [...ttfts].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { p50: q(0.5), p99: q(0.99), min: s[0], max: s[s.length - 1], samples: s.length, firstRequestOfEachEngine: stats(cold) }
}

const schedulerOverhead = () => {
  const SEQS = 64, STEPS = 200
  const nullLogits = new Float32Array(SEQS * V)
  const executor: ModelExecutor = { vocabSize: V, execute: () => nullLogits }
  const runs: Array<number> = []
  for (let r = 0; r < repeats; r++) {
    const core = new EngineCore({
      vocabSize: V, blockSize: 16, numBlocks: 4096, enablePrefixCaching: true, eosTokenIds: [], tokenizer: loaded.tokenizer,
      scheduler: { ...defaultSchedulerConfig(4096), maxNumSeqs: SEQS }
    })
    for (let i = 0; i < SEQS; i++) {
      core.add({ id: `s${i}`, promptTokenIds: Array.from({ length: 64 }, (_, j) => token(i * 64 + j)), params: defaultSamplingParams({ temperature: 0, maxTokens: STEPS + 10, ignoreEos: true }) })
    }
    core.step(executor, 0) // prefill all
    const t0 = performance.now()
    for (let s = 0; s < STEPS; s++) core.step(executor, 0)
    runs.push(((performance.now() - t0) * 1000) / STEPS)
  }
  return stats(runs)
}

const machine = machineInfo()
console.log(`model ${args.model}: ${(loaded.parameters / 1e6).toFixed(2)}M parameters; ${machine.cpu}, ${machine.cores} cores`)
const concurrency: Record<string, unknown> = {}
for (const c of [1, 4, 16, 64]) {
  concurrency[`c${c}`] = await throughput(c)
  console.log(`concurrency ${c}: ${(concurrency[`c${c}`] as { median: number }).median.toFixed(1)} output tokens/s (median of ${repeats})`)
}
const ttftOn = await sharedPrefixTtft(true)
const ttftOff = await sharedPrefixTtft(false)
console.log(`TTFT with a shared 1k-token prefix: caching on p50 ${(ttftOn.p50 * 1000).toFixed(1)} ms p99 ${(ttftOn.p99 * 1000).toFixed(1)} ms; off p50 ${(ttftOff.p50 * 1000).toFixed(1)} ms p99 ${(ttftOff.p99 * 1000).toFixed(1)} ms`)
const overhead = schedulerOverhead()
console.log(`scheduler step at 64 running sequences, null executor: median ${overhead.median.toFixed(1)} us`)

const file = writeResult("engine", {
  bench: "engine",
  machine,
  model: { dir: args.model, parameters: loaded.parameters },
  repeats,
  outputTokensPerSecond: concurrency,
  sharedPrefixTtftSeconds: { prefixCachingOn: ttftOn, prefixCachingOff_anchor: ttftOff, speedupP50: ttftOff.p50 / ttftOn.p50 },
  schedulerStepMicrosAt64Seqs: overhead
})
console.log(`wrote ${file}`)
