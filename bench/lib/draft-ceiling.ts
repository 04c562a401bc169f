/**
 * The ceiling of draft-model speculation on this machine, measured through the engine actor (one stream,
 * greedy, the same worker executor and threads for every engine, engines alternating): plain decoding
 * against speculation whose drafts come from an oracle that knows the plain output (every draft
 * accepted, K + 1 tokens a step):
 * - oracle: the drafts cost nothing (the best any proposer could do);
 * - oracle + draft passes: the draft model runs every pass it would run (the same batches over its own
 *   cache), its answers replaced by the oracle's: a draft model as costly as this one that is never wrong.
 * Verification rows are not free on a CPU (the target is compute-bound at this size) and the two models'
 * passes evict each other's weights from the caches; this measures both, where a cost model of parts
 * measured alone (step-costs.ts) cannot.
 */
import { Effect, Stream } from "effect"
import { makeEngine, type Engine } from "../../src/actors/engine.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import type { ForwardBatch } from "../../src/engine/model.ts"
import type { LoadedModel } from "../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../src/engine/scheduler.ts"
import { DraftModelProposer } from "../../src/engine/spec-decode/draft-proposer.ts"
import { WorkerExecutor } from "../../src/engine/worker-executor.ts"
import { stats, type Stats } from "./report.ts"

const BLOCK = 16
const NUM_BLOCKS = 256
type Mode = "plain" | "oracle" | "oracle + draft passes"
const MODES: ReadonlyArray<Mode> = ["plain", "oracle", "oracle + draft passes"]

export interface CeilingResult {
  readonly k: number
  /** Decode tok/s per mode, and each speculative mode's speedup over plain (per alternating pair). */
  readonly tokensPerSecond: Record<Mode, Stats>
  readonly speedup: Record<Exclude<Mode, "plain">, Stats>
}

/**
 * For each K in `ks`: `repeats` alternating rounds of every mode, each round decoding `tokens` new tokens
 * after each of `prompts` in turn (one stream).
 */
export const draftCeiling = async (target: LoadedModel, draft: LoadedModel, options: { readonly ks: ReadonlyArray<number>; readonly prompts: ReadonlyArray<ReadonlyArray<number>>; readonly tokens: number; readonly repeats: number; readonly threads: number }): Promise<Array<CeilingResult>> => {
  const cache = new PagedKvCache(target.config, { numBlocks: NUM_BLOCKS, blockSize: BLOCK, dtype: "f32" }, target.model.kernels.arena?.pools)
  const draftCache = new PagedKvCache(draft.config, { numBlocks: NUM_BLOCKS, blockSize: BLOCK, dtype: "f32" }, draft.model.kernels.arena?.pools)
  const worker = new WorkerExecutor(target.model, cache, { tensorParallelSize: options.threads })
  const executor = { execute: (batch: ForwardBatch) => Effect.tryPromise(() => worker.execute(batch)), offThread: true }
  const vocab = target.config.vocabSize
  try {
    /** One-hot logits for each row of a draft pass: the sequence's next token at that row's position. */
    const oracleLogits = (seq: ReadonlyArray<number>, batch: ForwardBatch) => {
      const out = new Float32Array(batch.logitsIndices.length * vocab)
      batch.logitsIndices.forEach((t, row) => (out[row * vocab + (seq[batch.positions[t] + 1] ?? 0)] = 1))
      return out
    }
    const proposer = (mode: Mode, seq: ReadonlyArray<number>) =>
      mode === "plain" ? null : new DraftModelProposer({
        vocabSize: vocab, numBlocks: NUM_BLOCKS, blockSize: BLOCK,
        execute: (b) => {
          if (mode === "oracle + draft passes") draft.model.forward(b, draftCache)
          return oracleLogits(seq, b)
        }
      }, { ahead: false })

    /** One stream through a fresh engine actor on the shared executor: its tokens and decode speed. */
    const decode = (mode: Mode | null, prompt: ReadonlyArray<number>, k = 1, seq: ReadonlyArray<number> = []) => {
      const draftProposer = mode === null ? null : proposer(mode, seq)
      return Effect.runPromise(Effect.scoped(Effect.flatMap(makeEngine({
        info: { modelName: "ceiling", config: target.config, tokenizer: target.tokenizer, generation: target.generation, maxModelLen: target.config.maxPositionEmbeddings, blockSize: BLOCK, numBlocks: NUM_BLOCKS, enablePrefixCaching: false, pooling: "last" },
        core: {
          vocabSize: vocab, blockSize: BLOCK, numBlocks: NUM_BLOCKS, enablePrefixCaching: false, eosTokenIds: [], tokenizer: target.tokenizer,
          speculative: draftProposer === null ? null : { method: "draft_model", model: "oracle", numSpeculativeTokens: k, promptLookupMin: 5, promptLookupMax: 5, disableByBatchSize: null },
          draftProposer,
          scheduler: defaultSchedulerConfig(target.config.maxPositionEmbeddings)
        },
        executor
      }), (engine: Engine["Service"]) => Effect.gen(function*() {
        const arrivals: Array<readonly [number, number]> = []
        const tokens: Array<number> = []
        yield* engine.generate({ promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: options.tokens, ignoreEos: true }) }).pipe(
          Stream.runForEach((d) => Effect.sync(() => (arrivals.push([performance.now(), d.tokenIds.length]), tokens.push(...d.tokenIds))))
        )
        // Decode speed: the tokens after the first delivery (prefill left out), per second since it.
        const decoded = arrivals.slice(1).reduce((n, [, c]) => n + c, 0)
        return { tokens, decodeTokensPerSecond: decoded / ((arrivals[arrivals.length - 1][0] - arrivals[0][0]) / 1000) }
      }))))
    }

    // Each prompt with its plain greedy continuation: what the oracle drafts from.
    const sequences: Array<ReadonlyArray<number>> = []
    for (const p of options.prompts) sequences.push([...p, ...(await decode(null, p)).tokens])

    const round = async (mode: Mode, k: number) => {
      let rate = 0
      for (let i = 0; i < options.prompts.length; i++) {
        const run = await decode(mode, options.prompts[i], k, sequences[i])
        const plain = sequences[i].slice(options.prompts[i].length), at = run.tokens.findIndex((t, j) => t !== plain[j])
        if (at >= 0 || run.tokens.length !== plain.length) throw new Error(`${mode} K=${k}, prompt ${i}: the output differs from plain decoding at token ${at} (${run.tokens.slice(at, at + 4)} where plain has ${plain.slice(at, at + 4)}; ${run.tokens.length} tokens)`)
        rate += run.decodeTokensPerSecond / options.prompts.length
      }
      return rate
    }
    const results: Array<CeilingResult> = []
    // Warm-up: the executor's thread and this one reach their steady state only after thousands of tokens.
    for (let i = 0; i < 4; i++) for (const mode of MODES) await round(mode, options.ks[options.ks.length - 1])
    for (const k of options.ks) {
      for (const mode of MODES) await round(mode, k)
      const rates: Record<Mode, Array<number>> = { plain: [], oracle: [], "oracle + draft passes": [] }
      for (let r = 0; r < options.repeats; r++) for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) rates[mode].push(await round(mode, k))
      const speedup = (m: Mode) => stats(rates[m].map((x, i) => x / rates.plain[i]))
      results.push({
        k,
        tokensPerSecond: { plain: stats(rates.plain), oracle: stats(rates.oracle), "oracle + draft passes": stats(rates["oracle + draft passes"]) },
        speedup: { oracle: speedup("oracle"), "oracle + draft passes": speedup("oracle + draft passes") }
      })
    }
    return results
  } finally {
    await worker.close()
  }
}
