import { Effect } from "effect"
import type { EngineInfo } from "../actors/engine.ts"
import type { CompiledGrammar } from "../engine/guided/compiled-grammar.ts"
import { defaultSamplingParams, validateSamplingParams, type SamplingParams } from "../engine/sampling-params.ts"
import type { SamplingFields } from "./schemas.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"

/** Most choices one request may ask for (OpenAI's limit for n). */
export const MAX_CHOICES = 128

export interface SamplingRequest {
  readonly fields: SamplingFields
  /** max_tokens, or max_completion_tokens for chat; null when the client left it unset. */
  readonly maxTokens: number | null
  /** Name of the field maxTokens came from, for error messages. */
  readonly maxTokensParam: string
  /** Alternatives per output position (null: no logprobs). */
  readonly logprobs: number | null
  /** Alternatives per prompt position (null: no prompt logprobs). */
  readonly promptLogprobs: number | null
  readonly promptTokens: number
  /** The compiled output constraint (structured outputs, tool calls); null: free output. */
  readonly guided: CompiledGrammar | null
}

const parseLogitBias = (bias: Readonly<Record<string, number>>): Effect.Effect<ReadonlyMap<number, number>, ApiError> => {
  const map = new Map<number, number>()
  for (const [key, value] of Object.entries(bias)) {
    if (!/^\d+$/.test(key)) return Effect.fail(invalidRequest(`Invalid key in 'logit_bias': ${JSON.stringify(key)} is not a token id.`, "logit_bias"))
    map.set(Number(key), value)
  }
  return Effect.succeed(map)
}

/** validateSamplingParams starts its messages with the snake_case field name: that is the param. */
const paramOfMessage = (message: string): string | null => /^([a-z_]+)\b/.exec(message)?.[1] ?? null

/**
 * The engine's SamplingParams for one prompt of a request: OpenAI fields first, then vLLM extras; where
 * the client left temperature, top_p, top_k or repetition_penalty unset the model's generation_config
 * decides, as in vLLM. max_tokens defaults to what still fits in max_model_len (capped by the model's
 * max_new_tokens); an explicit max_tokens that does not fit is a 400, like OpenAI's.
 */
export const toSamplingParams: (request: SamplingRequest, info: EngineInfo) => Effect.Effect<SamplingParams, ApiError> = Effect.fnUntraced(function*(request, info) {
  const f = request.fields
  const gen = info.generation
  const room = info.maxModelLen - request.promptTokens
  if (request.maxTokens !== null && request.maxTokens > room) {
    return yield* invalidRequest(
      `'${request.maxTokensParam}' is too large: ${request.maxTokens}. This model's maximum context length is ${info.maxModelLen} tokens and your request has ${request.promptTokens} input tokens (${request.maxTokens} > ${info.maxModelLen} - ${request.promptTokens}).`,
      request.maxTokensParam,
      "context_length_exceeded"
    )
  }
  const params = defaultSamplingParams({
    n: f.n ?? 1,
    temperature: f.temperature ?? gen.temperature ?? 1,
    topP: f.top_p ?? gen.topP ?? 1,
    topK: f.top_k ?? gen.topK ?? 0,
    minP: f.min_p ?? 0,
    presencePenalty: f.presence_penalty ?? 0,
    frequencyPenalty: f.frequency_penalty ?? 0,
    repetitionPenalty: f.repetition_penalty ?? gen.repetitionPenalty ?? 1,
    logitBias: f.logit_bias == null ? null : yield* parseLogitBias(f.logit_bias),
    seed: f.seed ?? null,
    stop: f.stop == null ? [] : typeof f.stop === "string" ? [f.stop] : f.stop,
    stopTokenIds: f.stop_token_ids ?? [],
    ignoreEos: f.ignore_eos ?? false,
    minTokens: f.min_tokens ?? 0,
    maxTokens: request.maxTokens ?? Math.min(room, gen.maxNewTokens ?? room),
    logprobs: request.logprobs,
    promptLogprobs: request.promptLogprobs,
    includeStopStrInOutput: f.include_stop_str_in_output ?? false,
    skipSpecialTokens: f.skip_special_tokens ?? true,
    guided: request.guided
  })
  // OpenAI's limit; without one a single request could fill the engine's whole waiting queue.
  if (params.n > MAX_CHOICES) return yield* invalidRequest(`n must be <= ${MAX_CHOICES}, got ${params.n}`, "n")
  const problem = validateSamplingParams(params, info.config.vocabSize)
  if (problem !== null) {
    const param = paramOfMessage(problem)
    return yield* invalidRequest(problem, param === "max_tokens" ? request.maxTokensParam : param)
  }
  return params
})
