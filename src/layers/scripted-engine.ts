import { Duration, Effect, Layer, Stream } from "effect"
import { Engine, type EngineDelta, type EngineInfo, type GenerateRequest } from "../actors/engine.ts"
import { parseModelConfig } from "../engine/config.ts"
import type { FinishReason } from "../engine/engine-core.ts"
import type { TextTokenizer } from "../engine/tokenizer.ts"

/** One scripted piece of output: its text (and token ids, if the test cares), after an optional pause. */
export interface ScriptedToken {
  readonly text: string
  readonly tokenId?: number
  readonly delay?: Duration.Input
}

export interface ScriptedEngineOptions {
  /** The reply to a request (called once per sequence; `index` is the choice index for n > 1). */
  readonly reply: (request: GenerateRequest, index: number) => ReadonlyArray<ScriptedToken | string>
  readonly modelName?: string
  readonly finishReason?: FinishReason
  /** Prompt tokens reported as served from the prefix cache. */
  readonly cachedTokens?: (request: GenerateRequest) => number
  /** Called with every request the engine receives, and when a request's stream ends (how it ended). */
  readonly onRequest?: (request: GenerateRequest) => void
  readonly onEnd?: (request: GenerateRequest, ended: "finished" | "interrupted") => void
  /** A real tokenizer (e.g. the bundled model's) so that prompts and chat templates work over HTTP. */
  readonly tokenizer?: TextTokenizer | null
}

/**
 * An Engine that streams scripted text with controllable timing (each token may carry a delay, which
 * TestClock drives): for tests of code built on the Engine service (HTTP apps, routers, ledgers) that do
 * not care about the model. Usage is reported as real engines report it. No model, no scheduler.
 */
export const scriptedEngine = (options: ScriptedEngineOptions): Engine["Service"] => {
  const maxModelLen = 1 << 20
  const info: EngineInfo = {
    modelName: options.modelName ?? "scripted",
    config: parseModelConfig("scripted/config.json", {
      architectures: ["LlamaForCausalLM"], vocab_size: 1 << 16, hidden_size: 8, intermediate_size: 8,
      num_hidden_layers: 1, num_attention_heads: 1, max_position_embeddings: maxModelLen
    }),
    tokenizer: options.tokenizer ?? null,
    generation: { eosTokenIds: [] },
    maxModelLen,
    blockSize: 16,
    numBlocks: 1,
    maxWaitingRequests: Number.MAX_SAFE_INTEGER,
    enablePrefixCaching: false
  }
  const sequence = (request: GenerateRequest, index: number): Stream.Stream<EngineDelta> => {
    const tokens = options.reply(request, index).map((t) => (typeof t === "string" ? { text: t } : t))
    const promptTokens = request.promptTokenIds.length
    const cachedTokens = options.cachedTokens?.(request) ?? 0
    return Stream.fromIterable(tokens.map((t, i) => [t, i] as const)).pipe(
      Stream.mapEffect(([t, i]) =>
        Effect.as(t.delay === undefined ? Effect.void : Effect.sleep(t.delay), {
          requestId: request.requestId ?? "scripted",
          index,
          tokenIds: [t.tokenId ?? i],
          text: t.text,
          logprobs: null,
          promptLogprobs: null,
          finishReason: i === tokens.length - 1 ? options.finishReason ?? "stop" : null,
          stopReason: null,
          promptTokens,
          completionTokens: i + 1,
          cachedTokens
        } satisfies EngineDelta))
    )
  }
  return Engine.of({
    info,
    generate: (request) =>
      Stream.suspend(() => {
        options.onRequest?.(request)
        let finished = false
        const all = Array.from({ length: request.params.n }, (_, i) => sequence(request, i))
        return (all.length === 1 ? all[0] : Stream.mergeAll(all, { concurrency: "unbounded" })).pipe(
          Stream.onEnd(Effect.sync(() => (finished = true))),
          Stream.ensuring(Effect.sync(() => options.onEnd?.(request, finished ? "finished" : "interrupted")))
        )
      }),
    stats: Effect.succeed({
      numRequestsRunning: 0, numRequestsWaiting: 0, numRequestsPaused: 0, kvCacheUsage: 0, numFreeBlocks: 0,
      prefixCacheQueries: 0, prefixCacheHits: 0, numPreemptions: 0, promptTokensTotal: 0, generationTokensTotal: 0,
      iterationTokensTotal: 0, steps: 0
    }),
    checkInvariants: Effect.void
  })
}

export const scriptedEngineLayer = (options: ScriptedEngineOptions): Layer.Layer<Engine> => Layer.succeed(Engine, scriptedEngine(options))
