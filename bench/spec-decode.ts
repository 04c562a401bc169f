/**
 * Speculative decoding benchmark (n-gram prompt lookup), through the Engine service (actor loop +
 * worker executor) on the bundled model, plain and speculative engines measured in the same run,
 * alternating, so machine load hits both alike:
 * - a completion workload whose output repeats its prompt (see PROMPTS), greedy, 128 new tokens:
 *   output tokens/s and acceptance rate;
 * - the same at concurrency 1, 2, 4, 8 and 16, to see where speculation stops paying (the point for
 *   --speculative-disable-by-batch-size).
 *
 * - the bundled draft model (--speculative-model) on plain prompts (the openings alone), at 1 and 4 streams,
 *   then a cost model: the best speedup any schedule of its parts could reach here (see draftCostModel),
 *   and the measured ceiling: oracle drafts, free or costing the draft model's passes (draftModelCeiling).
 *
 *   node bench/spec-decode.ts [--repeats 3] [--k 4] [--model DIR] [--draft DIR] [--method ngram|draft|both] [--concurrency 1,2,4,8,16] [--tokens 128] [--tensor-parallel-size N]
 *
 * Writes bench/results/spec-decode-*.json (with the load average: on a loaded machine numbers are indicative).
 */
import { Effect, Stream } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import type { Engine } from "../src/actors/engine.ts"
import { EngineCore } from "../src/engine/engine-core.ts"
import { PagedKvCache } from "../src/engine/kv-cache.ts"
import { loadModelDir } from "../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../src/engine/scheduler.ts"
import type { SpeculativeConfig } from "../src/engine/spec-decode/config.ts"
import { defaultTensorParallelSize, makeEngineFromModel } from "../src/layers/engine.ts"
import { machineInfo, stats, writeResult, type Stats } from "./lib/report.ts"
import { draftCeiling } from "./lib/draft-ceiling.ts"
import { draftPassMs, targetStepMs } from "./lib/step-costs.ts"

const { values: args } = parseArgs({
  options: {
    repeats: { type: "string", default: "3" },
    k: { type: "string", default: "4" },
    model: { type: "string", default: path.join(import.meta.dirname, "..", "models", "inferline-kjv") },
    draft: { type: "string", default: path.join(import.meta.dirname, "..", "models", "inferline-kjv-draft") },
    tokens: { type: "string", default: "128" },
    /** Threads per step for both engines (default: the engine's default for the model's size). */
    "tensor-parallel-size": { type: "string" },
    /** The n-gram runs' concurrencies (the draft model's are 1 and 4). */
    concurrency: { type: "string", default: "1,2,4,8,16" },
    /** ngram, draft, or both (default). */
    method: { type: "string", default: "both" }
  }
})
const repeats = Number(args.repeats)
const loaded = loadModelDir(args.model!)
const tok = loaded.tokenizer!
/** Batches measured per run (see runOnce). */
const ROUNDS = 4
const TP = args["tensor-parallel-size"] === undefined ? undefined : Number(args["tensor-parallel-size"])
/** The plain engine's threads: --tensor-parallel-size, else the engine's default for the model. */
const THREADS = TP ?? defaultTensorParallelSize(loaded.parameters)
/** New tokens per request (and the length of the continuation each n-gram prompt holds). */
const NEW = Number(args.tokens)
const NGRAM: SpeculativeConfig = { method: "ngram", numSpeculativeTokens: Number(args.k), promptLookupMin: 2, promptLookupMax: 4, disableByBatchSize: null }

const OPENINGS = [
  "And God said, Let there be light: and there was light. And God saw the light, that it was good",
  "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures",
  "In the beginning was the Word, and the Word was with God, and the Word was God",
  "Blessed are the poor in spirit: for theirs is the kingdom of heaven. Blessed are they that mourn"
]

/** The model's own greedy continuation of `prompt` (plain decoding, in process). */
const continuation = (prompt: ReadonlyArray<number>, n: number): Array<number> => {
  const blocks = Math.ceil((prompt.length + n) / 16) + 2
  const cache = new PagedKvCache(loaded.config, { numBlocks: blocks, blockSize: 16, dtype: "f32" })
  const core = new EngineCore({ vocabSize: loaded.config.vocabSize, blockSize: 16, numBlocks: blocks, enablePrefixCaching: true, eosTokenIds: [], tokenizer: null, scheduler: defaultSchedulerConfig(loaded.config.maxPositionEmbeddings) })
  core.add({ id: "c", promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: n, ignoreEos: true }) })
  const out: Array<number> = []
  while (core.has("c")) for (const o of core.step({ vocabSize: loaded.config.vocabSize, execute: (b) => loaded.model.forward(b, cache) }, 0)) out.push(...o.tokenIds)
  return out
}

/**
 * A prompt that holds the text the model is about to write, as a code edit holds the file it rewrites:
 * an opening, the model's own continuation of it, a blank line, and the opening again. (The bundled
 * 4M-parameter model does not quote scripture it is shown; it does repeat text in its context.)
 */
const PROMPTS = OPENINGS.map((o) => {
  const opening = tok.encode(o)
  return [...opening, ...continuation(opening, NEW), ...tok.encode("\n\n", false), ...opening]
})
const promptOf = (i: number) => PROMPTS[i % PROMPTS.length]
/** Requests of NEW tokens each engine decodes before it is measured (see runOnce). */
const WARM_UP_REQUESTS = 16
const WARM_UP = tok.encode("Now the serpent was more subtil than any beast of the field which the LORD God had made.")

interface Run {
  /** Output tokens per second from the requests' start to their end (prefill included). */
  readonly tokensPerSecond: number
  /**
   * Decode speed: the tokens delivered after every request had its first token, per second of that
   * window (the prompt's prefill, the same with and without speculation, left out; vLLM's TPOT view).
   */
  readonly decodeTokensPerSecond: number
  readonly acceptance: number | null
  readonly meanAccepted: number | null
  /** Verifications, and the drafts accepted at each position (0 = the first draft) over them. */
  readonly drafts: { readonly numDrafts: number; readonly acceptedPerPosition: ReadonlyArray<number> } | null
}

const runOnce = (speculative: SpeculativeConfig | null, concurrency: number, r: number, prompts: (i: number) => ReadonlyArray<number> = promptOf): Promise<Run> =>
  // 32 MiB of KV (16 streams of ~430 tokens take 27 MiB): every run's engine takes its pool from the one
  // process-wide tensor arena (4 GiB, never returned), and a run of the whole bench makes ~70 engines.
  Effect.runPromise(Effect.scoped(Effect.flatMap(makeEngineFromModel(loaded, { speculative, maxNumSeqs: 64, kvCacheMemoryBytes: 32 * 2 ** 20, tensorParallelSize: TP }), (engine: Engine["Service"]) =>
    Effect.gen(function*() {
      // A fresh engine (a new executor thread, cold JIT: its WASM starts in V8's baseline tier and is
      // optimized only after enough calls) runs its first requests several times slower than later ones,
      // and is still ~15% short of its steady state after 4 x 128 tokens (one stream: 1,730-2,100 tok/s
      // after 4, 2,010-2,700 after 16, alternating engines): warm it up on an unrelated prompt (no prefix
      // shared with the measured ones), 16 x 128 tokens, first.
      for (let i = 0; i < WARM_UP_REQUESTS; i++) {
        yield* engine.generate({ promptTokenIds: WARM_UP, params: defaultSamplingParams({ temperature: 0, maxTokens: NEW, ignoreEos: true }) }).pipe(Stream.runDrain)
      }
      const before = (yield* engine.stats).specDecode
      // ROUNDS batches one after another (each a different prompt per stream): one batch of 128 tokens
      // lasts ~0.1 s, short enough for a GC pause or a scheduler hiccup to move its rate by half.
      let secs = 0, decodeSecs = 0, decoded = 0
      const counts: Array<number> = []
      for (let round = 0; round < ROUNDS; round++) {
        const t0 = performance.now()
        // When each delivery arrived and how many tokens it held, per request.
        const arrivals: Array<Array<readonly [number, number]>> = []
        counts.push(...yield* Effect.forEach(
          Array.from({ length: concurrency }, (_, i) => i),
          (i) => engine.generate({ promptTokenIds: prompts(i + r + round), params: defaultSamplingParams({ temperature: 0, maxTokens: NEW, ignoreEos: true }) }).pipe(
            Stream.runFold(() => 0, (n, d) => {
              ;(arrivals[i] ??= []).push([performance.now(), d.tokenIds.length])
              return n + d.tokenIds.length
            })
          ),
          { concurrency: "unbounded" }
        ))
        const end = performance.now()
        secs += (end - t0) / 1000
        const allStarted = Math.max(...arrivals.map((a) => a[0][0]))
        decoded += arrivals.flat().reduce((n, [at, k]) => (at > allStarted ? n + k : n), 0)
        decodeSecs += (end - allStarted) / 1000
      }
      if (counts.some((c) => c !== NEW)) throw new Error(`expected ${NEW} tokens per request, got ${counts}`)
      const after = (yield* engine.stats).specDecode
      // The measured requests' own drafts (the warm-up's are left out).
      const s = after == null ? null : {
        numDrafts: after.numDrafts - (before?.numDrafts ?? 0),
        numDraftTokens: after.numDraftTokens - (before?.numDraftTokens ?? 0),
        numAcceptedTokens: after.numAcceptedTokens - (before?.numAcceptedTokens ?? 0),
        acceptedPerPosition: after.numAcceptedTokensPerPos.map((n, i) => n - (before?.numAcceptedTokensPerPos[i] ?? 0))
      }
      return {
        tokensPerSecond: (ROUNDS * concurrency * NEW) / secs,
        decodeTokensPerSecond: decoded / decodeSecs,
        acceptance: s == null || s.numDraftTokens === 0 ? null : s.numAcceptedTokens / s.numDraftTokens,
        meanAccepted: s == null || s.numDrafts === 0 ? null : s.numAcceptedTokens / s.numDrafts,
        drafts: s == null ? null : { numDrafts: s.numDrafts, acceptedPerPosition: s.acceptedPerPosition }
      }
    }))))

/** Tokens a step with K drafts yields on average: the token after them, plus each position's acceptance. */
const tokensPerStep = (acceptedAt: ReadonlyArray<number>, k: number): number => 1 + acceptedAt.slice(0, k).reduce((a, b) => a + b, 0)

/**
 * The best one stream can do with the draft model on this machine, from its parts measured at their best
 * (bench/lib/step-costs.ts) and this run's plain decode speed and acceptance per position: for K drafts a
 * step yields 1 + (accepted at positions 1..K) tokens and costs at least either
 * - serial: the target verifying K + 1 rows on the plain engine's threads, K draft passes before it, and
 *   the engine's own work per step (plain's time per token minus its one-row step), or
 * - overlapped: the draft drafting on a core of its own while the target verifies on the rest (here one
 *   thread fewer), the draft's time hidden entirely.
 * Real steps cost more (the parts disturb each other's caches; threads wake); the bound says whether
 * any schedule of these parts could reach a speedup. Also, serially: the bound with every draft accepted
 * (K + 1 tokens a step: what any draft model as costly as this one could reach at best), and the tokens a
 * step must yield for x1.5 (more than K + 1: no draft model of this cost reaches x1.5 at that K here).
 */
const draftCostModel = async (plainDecodeTokensPerSecond: number, acceptedAt: ReadonlyArray<number>) => {
  const K = acceptedAt.length
  const verify = await targetStepMs(loaded, K + 1, THREADS)
  const verifyOneFewer = THREADS > 1 ? await targetStepMs(loaded, K + 1, THREADS - 1) : null
  const draftPass = draftPassMs(loadModelDir(args.draft!))
  const perToken = 1000 / plainDecodeTokensPerSecond
  const engineWork = Math.max(0, perToken - verify[0].median)
  const bounds = acceptedAt.map((_, i) => {
    const k = i + 1
    const tokens = tokensPerStep(acceptedAt, k)
    const serialStepMs = verify[k].median + k * draftPass.median + engineWork
    const serial = (tokens * perToken) / serialStepMs
    const overlapped = verifyOneFewer === null ? null : (tokens * perToken) / (verifyOneFewer[k].median + engineWork)
    const everyDraftAccepted = ((k + 1) * perToken) / serialStepMs
    const tokensPerStepFor1_5x = (1.5 * serialStepMs) / perToken
    return { k, tokensPerStep: tokens, serial, overlapped, everyDraftAccepted, tokensPerStepFor1_5x }
  })
  for (const b of bounds) {
    console.log(
      `draft model, K=${b.k}: ${b.tokensPerStep.toFixed(2)} tokens per step; best speedup serial x${b.serial.toFixed(2)}${b.overlapped === null ? "" : `, overlapped x${b.overlapped.toFixed(2)}`}; ` +
        `every draft accepted x${b.everyDraftAccepted.toFixed(2)}; x1.5 needs ${b.tokensPerStepFor1_5x.toFixed(2)} tokens per step (at most ${b.k + 1})`
    )
  }
  console.log(`  (plain ${perToken.toFixed(3)} ms per token; target step ${verify.map((v) => v.median.toFixed(3)).join("/")} ms for 1..${K + 1} rows on ${THREADS} thread(s)${verifyOneFewer === null ? "" : `, ${verifyOneFewer.map((v) => v.median.toFixed(3)).join("/")} on ${THREADS - 1}`}; draft pass ${draftPass.median.toFixed(3)} ms)`)
  return { threads: THREADS, plainMsPerToken: perToken, engineWorkMs: engineWork, targetStepMs: verify, targetStepMsOneThreadFewer: verifyOneFewer, draftPassMs: draftPass, bounds }
}

/**
 * The measured ceiling (bench/lib/draft-ceiling.ts): oracle drafts, free or with the draft model's passes
 * run, every draft accepted; scaled by this run's tokens per step over K + 1 for "at this acceptance".
 */
const draftModelCeiling = async (acceptedAt: ReadonlyArray<number>) => {
  const ks = acceptedAt.map((_, i) => i + 1)
  const ceiling = await draftCeiling(loaded, loadModelDir(args.draft!), { ks, prompts: OPENINGS.map((o) => tok.encode(o)), tokens: NEW, repeats, threads: THREADS })
  return ceiling.map((c) => {
    const tokens = tokensPerStep(acceptedAt, c.k)
    const atAcceptance = { oracle: (c.speedup.oracle.median * tokens) / (c.k + 1), withDraftPasses: (c.speedup["oracle + draft passes"].median * tokens) / (c.k + 1) }
    const range = (x: Stats) => `x${x.median.toFixed(2)} (x${x.min.toFixed(2)}-${x.max.toFixed(2)})`
    console.log(
      `draft ceiling, K=${c.k}: plain ${c.tokensPerSecond.plain.median.toFixed(0)} tok/s; every draft accepted: free drafts ${range(c.speedup.oracle)}, with the draft model's passes ${range(c.speedup["oracle + draft passes"])}; ` +
        `at this run's ${tokens.toFixed(2)} tokens per step: free x${atAcceptance.oracle.toFixed(2)}, with the passes x${atAcceptance.withDraftPasses.toFixed(2)}`
    )
    return { ...c, tokensPerStep: tokens, atAcceptance }
  })
}

const machine = machineInfo()
console.log(`model ${args.model}: ${(loaded.parameters / 1e6).toFixed(2)}M parameters; ${machine.cpu}, ${machine.cores} cores, load ${machine.loadavg.map((x) => x.toFixed(2)).join(" ")}`)
const results: Record<string, unknown> = {}
const only = args.method

/**
 * Plain and speculative engines on the same requests, alternating; medians of end-to-end and decode
 * tok/s, and the speedups of both (the criterion is the decode one: speculation does not touch prefill).
 */
const compare = async (label: string, speculative: SpeculativeConfig, c: number, prompts?: (i: number) => ReadonlyArray<number>) => {
  const plain: Array<Run> = [], spec: Array<Run> = []
  for (let r = 0; r < repeats; r++) {
    plain.push(await runOnce(null, c, r, prompts))
    spec.push(await runOnce(speculative, c, r, prompts))
  }
  const e2e = { plain: stats(plain.map((x) => x.tokensPerSecond)), spec: stats(spec.map((x) => x.tokensPerSecond)) }
  const decode = { plain: stats(plain.map((x) => x.decodeTokensPerSecond)), spec: stats(spec.map((x) => x.decodeTokensPerSecond)) }
  const a = stats(spec.map((x) => x.acceptance ?? 0)), m = stats(spec.map((x) => x.meanAccepted ?? 0))
  const speedup = e2e.spec.median / e2e.plain.median, decodeSpeedup = decode.spec.median / decode.plain.median
  // Each repeat's own pair (the same prompts): how much the ratio itself varies.
  const pairDecodeSpeedups = stats(spec.map((x, i) => x.decodeTokensPerSecond / plain[i].decodeTokensPerSecond))
  console.log(
    `${label}, concurrency ${c}: decode plain ${decode.plain.median.toFixed(1)} tok/s, ${speculative.method} K=${speculative.numSpeculativeTokens} ${decode.spec.median.toFixed(1)} tok/s (x${decodeSpeedup.toFixed(2)}; pairs x${pairDecodeSpeedups.min.toFixed(2)}-${pairDecodeSpeedups.max.toFixed(2)}); ` +
      `end to end ${e2e.plain.median.toFixed(1)} vs ${e2e.spec.median.toFixed(1)} tok/s (x${speedup.toFixed(2)}); acceptance ${(a.median * 100).toFixed(1)}%, ${m.median.toFixed(2)} drafts accepted per verification`
  )
  // The drafts of all runs pooled: how often each position's draft was accepted.
  const numDrafts = spec.reduce((n, x) => n + (x.drafts?.numDrafts ?? 0), 0)
  const acceptedAt = Array.from({ length: speculative.numSpeculativeTokens }, (_, i) => spec.reduce((n, x) => n + (x.drafts?.acceptedPerPosition[i] ?? 0), 0) / Math.max(1, numDrafts))
  return { plain: e2e.plain, [speculative.method === "ngram" ? "ngram" : "draft"]: e2e.spec, speedup, decode, decodeSpeedup, pairDecodeSpeedups, acceptanceRate: a, acceptedPerStep: m, acceptedAt }
}

for (const c of only === "draft" ? [] : args.concurrency!.split(",").map(Number)) results[`c${c}`] = await compare("n-gram", NGRAM, c)
// The draft model on plain prompts (the openings alone): the workload a draft model is for.
const DRAFT: SpeculativeConfig = { method: "draft_model", model: args.draft!, numSpeculativeTokens: Number(args.k), promptLookupMin: 5, promptLookupMax: 5, disableByBatchSize: null }
const openingOf = (i: number) => tok.encode(OPENINGS[i % OPENINGS.length])
for (const c of only === "ngram" ? [] : [1, 4]) results[`draft-c${c}`] = await compare("draft model", DRAFT, c, openingOf)
if (only !== "ngram") {
  const c1 = results["draft-c1"] as Awaited<ReturnType<typeof compare>>
  results["draft-cost-model"] = await draftCostModel(c1.decode.plain.median, c1.acceptedAt)
  results["draft-ceiling"] = await draftModelCeiling(c1.acceptedAt)
}
const file = writeResult("spec-decode", { machine, loadavgAfter: machineInfo().loadavg, newTokens: NEW, tensorParallelSize: THREADS, speculative: { ngram: NGRAM, draft: DRAFT }, repeats, results })
console.log(`wrote ${file}`)
