import { validateNgramConfig, type NgramConfig } from "./ngram-proposer.ts"

/**
 * Speculative decoding of one engine (vLLM's --speculative-config): the method proposing draft tokens,
 * how many per step, and the batch size past which it is switched off (disable_by_batch_size: with
 * many sequences decoding, the step is no longer memory-bound and verifying drafts costs more than it saves).
 */
export interface SpeculativeConfig extends NgramConfig {
  /** ngram: prompt lookup (the prompt_lookup_* fields); draft_model: a small model's greedy continuation. */
  readonly method: "ngram" | "draft_model"
  /** draft_model: the draft model's directory (same vocabulary as the target). */
  readonly model?: string
  /** Running sequences above which no drafts are proposed; null: never off. */
  readonly disableByBatchSize: number | null
}

/**
 * Past this many running sequences no drafts are proposed unless the config says otherwise:
 * bench/spec-decode.ts on the bundled model (since one-thread steps for small models) measured n-gram
 * speculation ahead at 1 and 2 streams (x1.26, x1.19) and behind from 4 on (x0.75-0.89).
 */
export const DEFAULT_DISABLE_BY_BATCH_SIZE = 2

export const validateSpeculativeConfig = (c: SpeculativeConfig): SpeculativeConfig => {
  if (c.method !== "ngram" && c.method !== "draft_model") throw new RangeError(`speculative method must be "ngram" or "draft_model", got ${JSON.stringify(c.method)}`)
  if (c.method === "draft_model" && (typeof c.model !== "string" || c.model === "")) throw new RangeError("the draft_model method needs model (the draft model's directory)")
  if (c.method === "ngram" && c.model !== undefined) throw new RangeError("model names a draft model: it goes with method draft_model, not ngram")
  validateNgramConfig(c)
  if (c.disableByBatchSize !== null && (!Number.isInteger(c.disableByBatchSize) || c.disableByBatchSize < 1)) {
    throw new RangeError(`disable_by_batch_size must be an integer >= 1, got ${c.disableByBatchSize}`)
  }
  return c
}

/** Counters named after vLLM's spec_decode metrics. */
export interface SpecDecodeStats {
  /** Verification steps of a sequence that carried at least one draft token. */
  numDrafts: number
  numDraftTokens: number
  numAcceptedTokens: number
  /** Accepted drafts at each draft position (index 0: the first draft token of a step). */
  readonly numAcceptedTokensPerPos: Array<number>
}

export const emptySpecDecodeStats = (k: number): SpecDecodeStats => ({ numDrafts: 0, numDraftTokens: 0, numAcceptedTokens: 0, numAcceptedTokensPerPos: new Array<number>(k).fill(0) })

/**
 * vLLM's --speculative-config (a JSON object, snake_case keys) as a SpeculativeConfig. As in vLLM,
 * num_speculative_tokens is required, and a missing prompt_lookup_min or _max takes the other's value
 * (both missing: 5). Unlike vLLM, disable_by_batch_size defaults to DEFAULT_DISABLE_BY_BATCH_SIZE.
 * Throws RangeError naming the offending key.
 */
export const parseSpeculativeConfig = (raw: unknown): SpeculativeConfig => {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new RangeError("expected a JSON object such as {\"method\": \"ngram\", \"num_speculative_tokens\": 4}")
  const o = raw as Record<string, unknown>
  const known = ["method", "model", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max", "disable_by_batch_size"]
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new RangeError(`unknown key ${k} (known: ${known.join(", ")})`)
  const int = (k: string): number | undefined => {
    const v = o[k]
    if (v === undefined || v === null) return undefined
    if (typeof v !== "number" || !Number.isInteger(v)) throw new RangeError(`${k} must be an integer, got ${JSON.stringify(v)}`)
    return v
  }
  if (o.model !== undefined && o.model !== null && (typeof o.model !== "string" || o.model === "")) throw new RangeError(`model must be a draft model directory, got ${JSON.stringify(o.model)}`)
  const model = typeof o.model === "string" ? o.model : undefined
  // As in vLLM, a draft model without a method means the draft_model method.
  const method = o.method ?? (model !== undefined ? "draft_model" : undefined)
  if (method !== "ngram" && method !== "draft_model") throw new RangeError(`method must be "ngram" or "draft_model", got ${JSON.stringify(o.method)}`)
  const k = int("num_speculative_tokens")
  if (k === undefined) throw new RangeError("num_speculative_tokens is required")
  const min = int("prompt_lookup_min"), max = int("prompt_lookup_max")
  return validateSpeculativeConfig({
    method,
    ...(model !== undefined && { model }),
    numSpeculativeTokens: k,
    promptLookupMin: min ?? max ?? 5,
    promptLookupMax: max ?? min ?? 5,
    disableByBatchSize: int("disable_by_batch_size") ?? DEFAULT_DISABLE_BY_BATCH_SIZE
  })
}
