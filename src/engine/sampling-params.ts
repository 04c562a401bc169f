import type { CompiledGrammar } from "./guided/compiled-grammar.ts"

/**
 * How one request wants its tokens chosen and when it wants to stop: vLLM's SamplingParams, in
 * camelCase. Validation messages use the OpenAI/vLLM snake_case names, since that is what a client sent.
 */
export interface SamplingParams {
  /** Independent sequences to generate for the prompt. */
  readonly n: number
  /** Softmax temperature; 0 means greedy (argmax). */
  readonly temperature: number
  /** Nucleus sampling: keep the smallest set of top tokens whose probability mass reaches topP. */
  readonly topP: number
  /** Keep only the k most likely tokens; 0 or -1 turns it off. */
  readonly topK: number
  /** Drop tokens whose probability is below minP times the most likely token's. */
  readonly minP: number
  /** Subtracted once from the logit of every token already in the output. */
  readonly presencePenalty: number
  /** Subtracted from a token's logit once per time it already occurs in the output. */
  readonly frequencyPenalty: number
  /** Multiplicative penalty (HF/vLLM style) on tokens of the prompt or the output; 1 is off. */
  readonly repetitionPenalty: number
  /** Added to the logit of the given token ids before sampling. */
  readonly logitBias: ReadonlyMap<number, number> | null
  /** Makes the sampled tokens reproducible, whatever else shares the batch. */
  readonly seed: number | null
  /** Strings that end the sequence; the output is cut before them (or after, see includeStopStrInOutput). */
  readonly stop: ReadonlyArray<string>
  /** Token ids that end the sequence. */
  readonly stopTokenIds: ReadonlyArray<number>
  /** Keep generating past the end-of-sequence token. */
  readonly ignoreEos: boolean
  /** Output tokens to generate before eos, stop_token_ids or stop strings may end the sequence. */
  readonly minTokens: number
  /** Output tokens after which the sequence ends with finish reason "length". */
  readonly maxTokens: number
  /** null: no logprobs; 0: the sampled token's only; k: also the k most likely alternatives. */
  readonly logprobs: number | null
  /** Same as logprobs, for every prompt position after the first. */
  readonly promptLogprobs: number | null
  /** Keep the matched stop string (or stop token text) at the end of the output. */
  readonly includeStopStrInOutput: boolean
  /** Leave special tokens (eos, chat markers...) out of the output text. */
  readonly skipSpecialTokens: boolean
  /**
   * Guided decoding: only tokens that keep the output within this grammar may be sampled, EOS only
   * where the grammar may end, and the sequence ends once nothing more can follow. Null: unconstrained.
   */
  readonly guided: CompiledGrammar | null
}

/** Most alternatives a request may ask for per position (vLLM's default max_logprobs). */
export const MAX_LOGPROBS = 20

/** vLLM's SamplingParams defaults (max_tokens 16 included); overrides win. */
export const defaultSamplingParams = (overrides: Partial<SamplingParams> = {}): SamplingParams => ({
  n: 1,
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1.0,
  logitBias: null,
  seed: null,
  stop: [],
  stopTokenIds: [],
  ignoreEos: false,
  minTokens: 0,
  maxTokens: 16,
  logprobs: null,
  promptLogprobs: null,
  includeStopStrInOutput: false,
  skipSpecialTokens: true,
  guided: null,
  ...overrides
})

const isInt = (x: number): boolean => Number.isSafeInteger(x)

const checkLogprobs = (name: string, k: number | null): string | null =>
  k === null ? null
    : !isInt(k) || k < 0 ? `${name} must be a non-negative integer, got ${k}`
    : k > MAX_LOGPROBS ? `${name} must be <= ${MAX_LOGPROBS}, got ${k}`
    : null

/** The first problem with the params, as a client-facing message naming the field; null when valid. */
export const validateSamplingParams = (p: SamplingParams, vocabSize: number): string | null => {
  if (!isInt(p.n) || p.n < 1) return `n must be an integer >= 1, got ${p.n}`
  if (!Number.isFinite(p.temperature) || p.temperature < 0) return `temperature must be >= 0, got ${p.temperature}`
  if (!(p.topP > 0 && p.topP <= 1)) return `top_p must be in (0, 1], got ${p.topP}`
  if (!isInt(p.topK) || p.topK < -1) return `top_k must be -1 or 0 (off) or an integer >= 1, got ${p.topK}`
  if (!(p.minP >= 0 && p.minP <= 1)) return `min_p must be in [0, 1], got ${p.minP}`
  if (!(p.presencePenalty >= -2 && p.presencePenalty <= 2)) return `presence_penalty must be in [-2, 2], got ${p.presencePenalty}`
  if (!(p.frequencyPenalty >= -2 && p.frequencyPenalty <= 2)) return `frequency_penalty must be in [-2, 2], got ${p.frequencyPenalty}`
  if (!(p.repetitionPenalty > 0) || !Number.isFinite(p.repetitionPenalty)) return `repetition_penalty must be > 0, got ${p.repetitionPenalty}`
  if (p.logitBias !== null) {
    for (const [id, bias] of p.logitBias) {
      if (!isInt(id) || id < 0 || id >= vocabSize) return `logit_bias token id ${id} is out of range [0, ${vocabSize})`
      if (!Number.isFinite(bias)) return `logit_bias value for token ${id} must be a finite number, got ${bias}`
    }
  }
  if (p.seed !== null && !isInt(p.seed)) return `seed must be an integer, got ${p.seed}`
  if (p.stop.some((s) => s.length === 0)) return "stop must not contain an empty string"
  for (const id of p.stopTokenIds) {
    if (!isInt(id) || id < 0 || id >= vocabSize) return `stop_token_ids entry ${id} is out of range [0, ${vocabSize})`
  }
  if (!isInt(p.maxTokens) || p.maxTokens < 1) return `max_tokens must be an integer >= 1, got ${p.maxTokens}`
  if (!isInt(p.minTokens) || p.minTokens < 0) return `min_tokens must be an integer >= 0, got ${p.minTokens}`
  if (p.minTokens > p.maxTokens) return `min_tokens must be <= max_tokens (${p.maxTokens}), got ${p.minTokens}`
  return checkLogprobs("logprobs", p.logprobs) ?? checkLogprobs("prompt_logprobs", p.promptLogprobs)
}
