import type { KvBlock } from "./block-pool.ts"

export type RequestStatus = "waiting" | "running" | "preempted" | "finished"

/**
 * One sequence as the scheduler sees it. As in vLLM v1 there are no prefill/decode phases: the request
 * has `numTokens` (prompt + output so far) and `numComputedTokens` (in the KV cache); every step gives it
 * tokens so that the second catches up with the first. One rule covers chunked prefill, prefix-cache hits
 * and recompute after preemption.
 */
export class SchedulerRequest {
  readonly id: string
  readonly promptTokenIds: ReadonlyArray<number>
  readonly outputTokenIds: Array<number> = []
  readonly priority: number
  /** Admission order; ties in priority go to the earlier arrival. */
  readonly arrival: number
  /** Extra prefix-cache keys: the salt isolates tenants, the adapter id separates LoRA variants. */
  readonly cacheSalt: string | null
  readonly adapterId: string | null
  /** Tokens to compute logits for every prompt position (prompt logprobs): disables prefix-cache hits. */
  readonly needsPromptLogits: boolean
  /** An embedding's pooling (hidden states of the prompt rows pooled): no prefix-cache hits, no output tokens. */
  readonly pooling: "last" | "mean" | null
  readonly maxTokens: number
  status: RequestStatus = "waiting"
  numComputedTokens = 0
  /** Prompt tokens served from the prefix cache at first admission (reported as cached_tokens). */
  numCachedPromptTokens = -1
  blocks: Array<KvBlock> = []
  /** Hash of each full block of this request's tokens, extended as tokens arrive. */
  readonly blockHashes: Array<number> = []
  /** Leading blocks already registered in the prefix cache. */
  numCachedBlocks = 0
  /** Set while its reader is not keeping up: the request keeps its blocks but is not scheduled. */
  paused = false
  pausedSince = 0
  numPreemptions = 0
  /**
   * Draft tokens proposed to follow the sequence (speculative decoding): the next decode step computes
   * them after the last token and keeps those the target model agrees with. Never part of numTokens.
   */
  specTokenIds: Array<number> = []
  /**
   * Disaggregated decode: the KV of the first `numTokens` tokens (the prompt) arrives with the request
   * instead of being computed. Admission counts them computed and records in `fromBlock` the first block
   * to write (the ones before it are this engine's own prefix-cache hits); the engine core writes them
   * before the step runs and clears this.
   */
  kvImport: { readonly numTokens: number; fromBlock: number | null } | null = null

  constructor(options: {
    id: string
    promptTokenIds: ReadonlyArray<number>
    maxTokens: number
    priority?: number
    arrival: number
    cacheSalt?: string | null
    adapterId?: string | null
    needsPromptLogits?: boolean
    pooling?: "last" | "mean" | null
  }) {
    this.id = options.id
    this.promptTokenIds = options.promptTokenIds
    this.maxTokens = options.maxTokens
    this.priority = options.priority ?? 0
    this.arrival = options.arrival
    this.cacheSalt = options.cacheSalt ?? null
    this.adapterId = options.adapterId ?? null
    this.needsPromptLogits = options.needsPromptLogits ?? false
    this.pooling = options.pooling ?? null
  }

  get embeds(): boolean {
    return this.pooling !== null
  }

  get numTokens(): number {
    return this.promptTokenIds.length + this.outputTokenIds.length
  }

  tokenAt(i: number): number {
    const p = this.promptTokenIds.length
    return i < p ? this.promptTokenIds[i] : this.outputTokenIds[i - p]
  }

  tokens(from: number, to: number): Array<number> {
    const out = new Array<number>(to - from)
    for (let i = from; i < to; i++) out[i - from] = this.tokenAt(i)
    return out
  }
}
