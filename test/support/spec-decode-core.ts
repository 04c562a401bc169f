import { EngineCore, type ModelExecutor } from "../../src/engine/engine-core.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import type { LoadedModel } from "../../src/engine/model-dir.ts"
import { defaultSamplingParams, type SamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../src/engine/scheduler.ts"
import type { SpeculativeConfig } from "../../src/engine/spec-decode/config.ts"
import { DraftModelProposer } from "../../src/engine/spec-decode/draft-proposer.ts"

export interface CoreOverrides {
  readonly maxNumBatchedTokens?: number
  readonly longPrefill?: number
  /** The draft model's own KV blocks (default: as many as the target's). */
  readonly draftBlocks?: number
}

/**
 * Engine cores over a loaded target model (in-process forward passes, prefix caching on), speculating
 * with `speculative` when given: for method draft_model, with `draft` proposing over its own KV cache.
 * `runAlone` decodes one request by itself: the tokens every speculative run must reproduce.
 */
export const speculativeCores = (target: LoadedModel, blockSize: number, draft?: LoadedModel) => {
  const vocabSize = target.config.vocabSize
  const makeCore = (numBlocks: number, speculative: SpeculativeConfig | null, over: CoreOverrides = {}) => {
    const cache = new PagedKvCache(target.config, { numBlocks, blockSize, dtype: "f32" })
    const executor: ModelExecutor = { vocabSize, execute: (batch) => target.model.forward(batch, cache) }
    const draftProposer = speculative === null || draft === undefined ? null : draftProposerOf(draft, over.draftBlocks ?? numBlocks, blockSize)
    const core = new EngineCore({
      vocabSize, blockSize, numBlocks, enablePrefixCaching: true, eosTokenIds: [], tokenizer: target.tokenizer, speculative, draftProposer,
      scheduler: { ...defaultSchedulerConfig(target.config.maxPositionEmbeddings), maxNumBatchedTokens: over.maxNumBatchedTokens ?? 2048, longPrefillTokenThreshold: over.longPrefill ?? 0 }
    })
    return { core, executor }
  }
  const runAlone = (prompt: ReadonlyArray<number>, params: SamplingParams, speculative: SpeculativeConfig | null) => {
    const { core, executor } = makeCore(Math.ceil((prompt.length + params.maxTokens) / blockSize) + 2, speculative)
    core.add({ id: "solo", promptTokenIds: prompt, params })
    const tokens: Array<number> = []
    let steps = 0
    for (; core.has("solo") && steps < 10_000; steps++) for (const o of core.step(executor, 0)) tokens.push(...o.tokenIds)
    return { tokens, steps, stats: core.stats() }
  }
  return { makeCore, runAlone }
}

const draftProposerOf = (draft: LoadedModel, numBlocks: number, blockSize: number) => {
  const cache = new PagedKvCache(draft.config, { numBlocks, blockSize, dtype: "f32" })
  return new DraftModelProposer({ vocabSize: draft.config.vocabSize, numBlocks, blockSize, execute: (b) => draft.model.forward(b, cache) })
}

/** Greedy sampling of `maxTokens` tokens, EOS ignored. */
export const greedy = (maxTokens: number) => defaultSamplingParams({ temperature: 0, maxTokens, ignoreEos: true })
