import { validateNgramConfig, type NgramConfig } from "./ngram-proposer.ts"

/**
 * Speculative decoding of one engine (vLLM's --speculative-config): the method proposing draft tokens,
 * how many per step, and the batch size past which it is switched off (disable_by_batch_size: with
 * many sequences decoding, the step is no longer memory-bound and verifying drafts costs more than it saves).
 */
export interface SpeculativeConfig extends NgramConfig {
  readonly method: "ngram"
  /** Running sequences above which no drafts are proposed; null: never off. */
  readonly disableByBatchSize: number | null
}

export const validateSpeculativeConfig = (c: SpeculativeConfig): SpeculativeConfig => {
  if (c.method !== "ngram") throw new RangeError(`speculative method must be "ngram", got ${JSON.stringify(c.method)}`)
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
