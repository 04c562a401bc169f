import { Duration, Effect, Layer } from "effect"
import { Engine, makeEngine, type EngineInfo, type Executor } from "../actors/engine.ts"
import { parseModelConfig } from "../engine/config.ts"
import { defaultSchedulerConfig, type SchedulerConfig } from "../engine/scheduler.ts"
import type { ForwardBatch } from "../engine/model.ts"
import type { TextTokenizer } from "../engine/tokenizer.ts"
import type { SpeculativeConfig } from "../engine/spec-decode/config.ts"

/** The token the fake model predicts after `token` at `position`: a fixed, easily recomputed rule. */
export const fakeNextToken = (token: number, position: number, vocabSize: number): number =>
  (token * 31 + position * 7 + 1) % vocabSize

/**
 * A deterministic model executor for scheduler and streaming tests: each logits row is one-hot on
 * `fakeNextToken(token, position)`. `stepDelay` simulates model time (Effect.sleep, so TestClock drives it);
 * `onExecute` observes every batch.
 */
export const fakeExecutor = (vocabSize: number, options: { stepDelay?: Duration.Input; onExecute?: (batch: ForwardBatch) => void } = {}): Executor => ({
  execute: (batch) =>
    Effect.gen(function*() {
      options.onExecute?.(batch)
      if (options.stepDelay !== undefined) yield* Effect.sleep(options.stepDelay)
      const rows = batch.logitsIndices.length
      const logits = new Float32Array(rows * vocabSize)
      for (let i = 0; i < rows; i++) {
        const t = batch.logitsIndices[i]
        logits[i * vocabSize + fakeNextToken(batch.tokenIds[t], batch.positions[t], vocabSize)] = 10
      }
      return logits
    })
})

export interface FakeEngineOptions {
  readonly vocabSize?: number
  readonly numBlocks?: number
  readonly blockSize?: number
  readonly maxModelLen?: number
  readonly eosTokenIds?: ReadonlyArray<number>
  readonly scheduler?: Partial<SchedulerConfig>
  readonly outputBufferSize?: number
  readonly maxWaitingRequests?: number
  readonly stepDelay?: Duration.Input
  readonly onExecute?: (batch: ForwardBatch) => void
  readonly enablePrefixCaching?: boolean
  /** A real tokenizer (e.g. the bundled model's) so that text, chat templates and the HTTP API work. */
  readonly tokenizer?: TextTokenizer | null
  /** Speculative decoding (n-gram drafts verified by the fake model). */
  readonly speculative?: SpeculativeConfig | null
}

/** The Engine service over the fake executor: real scheduler, block manager and actor, no model, no tokenizer. */
export const fakeEngine = (options: FakeEngineOptions = {}) => {
  const vocabSize = options.vocabSize ?? 1000
  const maxModelLen = options.maxModelLen ?? 2048
  const blockSize = options.blockSize ?? 16
  const numBlocks = options.numBlocks ?? 1024
  const enablePrefixCaching = options.enablePrefixCaching ?? true
  const config = parseModelConfig("fake/config.json", {
    architectures: ["LlamaForCausalLM"], vocab_size: vocabSize, hidden_size: 8, intermediate_size: 8,
    num_hidden_layers: 1, num_attention_heads: 1, max_position_embeddings: maxModelLen
  })
  const info = {
    modelName: "fake", config, tokenizer: options.tokenizer ?? null, generation: { eosTokenIds: options.eosTokenIds ?? [] },
    maxModelLen, blockSize, numBlocks, enablePrefixCaching
  }
  return makeEngine({
    info,
    core: {
      vocabSize, blockSize, numBlocks, enablePrefixCaching, tokenizer: options.tokenizer ?? null,
      eosTokenIds: options.eosTokenIds ?? [],
      speculative: options.speculative ?? null,
      scheduler: { ...defaultSchedulerConfig(maxModelLen), ...options.scheduler }
    },
    executor: fakeExecutor(vocabSize, options),
    outputBufferSize: options.outputBufferSize,
    maxWaitingRequests: options.maxWaitingRequests
  })
}

export const fakeEngineLayer = (options: FakeEngineOptions = {}): Layer.Layer<Engine> => Layer.effect(Engine, fakeEngine(options))
