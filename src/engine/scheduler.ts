import type { KvCacheManager } from "./kv-cache-manager.ts"
import type { SchedulerRequest } from "./request.ts"
import { requestQueueFor, type RequestQueue } from "./request-queue.ts"

export interface SchedulerConfig {
  /** Token budget of one step (vLLM's max_num_batched_tokens). */
  readonly maxNumBatchedTokens: number
  /** Most requests running at once (max_num_seqs). */
  readonly maxNumSeqs: number
  /** Longest sequence, prompt + output (max_model_len); the engine finishes requests that reach it. */
  readonly maxModelLen: number
  /** Most tokens one request may prefill in one step; 0 = no cap beyond the budget. */
  readonly longPrefillTokenThreshold: number
  readonly policy: "fcfs" | "priority"
  /** A paused request (its reader stopped) is preempted after this many ms, freeing its blocks. */
  readonly stallLimitMs: number
}

export const defaultSchedulerConfig = (maxModelLen: number): SchedulerConfig => ({
  maxNumBatchedTokens: 2048,
  maxNumSeqs: 128,
  maxModelLen,
  longPrefillTokenThreshold: 0,
  policy: "fcfs",
  stallLimitMs: 5000
})

export interface ScheduledChunk {
  readonly request: SchedulerRequest
  /** Tokens in the KV cache before this step: the chunk's first position. */
  readonly startPosition: number
  readonly numNewTokens: number
  /** Of numNewTokens, the last ones that are draft tokens to verify (request.specTokenIds' first ones). */
  readonly numSpecTokens: number
}

export interface SchedulerOutput {
  readonly chunks: ReadonlyArray<ScheduledChunk>
  readonly preempted: ReadonlyArray<SchedulerRequest>
  readonly numBatchedTokens: number
}

/**
 * vLLM v1's scheduling policy: running requests first (each gets the tokens it lacks, within the budget
 * and the long-prefill cap), recompute preemption when blocks run out, then admission of waiting
 * requests while nothing was preempted in this step. Pure: it mutates only the requests and the KV
 * manager, never runs the model.
 */
export class Scheduler {
  readonly config: SchedulerConfig
  readonly kv: KvCacheManager
  readonly running: Array<SchedulerRequest> = []
  /** Waiting for admission, in the policy's order (request-queue.ts). */
  readonly waiting: RequestQueue
  /** Preempted while paused: they rejoin `waiting` when their reader comes back. */
  readonly parked = new Set<SchedulerRequest>()
  numPreemptions = 0

  constructor(config: SchedulerConfig, kv: KvCacheManager) {
    this.config = config
    this.kv = kv
    this.waiting = requestQueueFor(config.policy)
  }

  add(req: SchedulerRequest): void {
    req.status = "waiting"
    this.waiting.add(req)
  }

  /** Removes a request wherever it is and frees its blocks. Idempotent. */
  remove(req: SchedulerRequest): void {
    const i = this.running.indexOf(req)
    if (i >= 0) this.running.splice(i, 1)
    this.waiting.remove(req)
    this.parked.delete(req)
    this.kv.free(req)
    req.status = "finished"
  }

  /** Marks the request's reader as caught up again; a parked request goes back to the waiting queue. */
  unpause(req: SchedulerRequest): void {
    req.paused = false
    if (this.parked.delete(req)) this.waiting.addPreempted(req)
  }

  private preempt(victim: SchedulerRequest): void {
    const i = this.running.indexOf(victim)
    if (i >= 0) this.running.splice(i, 1)
    this.kv.free(victim)
    victim.numComputedTokens = 0
    victim.specTokenIds = []
    victim.status = "preempted"
    victim.numPreemptions++
    this.numPreemptions++
  }

  schedule(now: number): SchedulerOutput {
    const c = this.config
    let budget = c.maxNumBatchedTokens
    const chunks: Array<ScheduledChunk> = []
    const preempted: Array<SchedulerRequest> = []

    // Readers that stalled past the limit give their memory back; they recompute when they return.
    for (const r of [...this.running]) {
      if (r.paused && now - r.pausedSince >= c.stallLimitMs) {
        this.preempt(r)
        this.parked.add(r)
        preempted.push(r)
      }
    }

    // Tokens each request got in this step: a request preempted after it was scheduled gives them back.
    const scheduledNow = new Map<SchedulerRequest, number>()
    for (let idx = 0; idx < this.running.length && budget > 0; ) {
      const req = this.running[idx]
      if (req.paused || scheduledNow.has(req)) {
        idx++
        continue
      }
      let n = Math.min(req.numTokens - req.numComputedTokens, budget)
      if (c.longPrefillTokenThreshold > 0) n = Math.min(n, c.longPrefillTokenThreshold)
      if (n <= 0) {
        idx++
        continue
      }
      // A decoding request verifies its draft tokens in the same step, as far as the budget allows.
      let numSpec = n === 1 && req.numTokens - req.numComputedTokens === 1 ? Math.min(req.specTokenIds.length, budget - 1) : 0
      let ok = this.kv.allocateSlots(req, n + numSpec)
      // Drafts are optional: without room for them, decode one token before preempting anybody.
      if (!ok && numSpec > 0) {
        numSpec = 0
        ok = this.kv.allocateSlots(req, n)
      }
      n += numSpec
      while (!ok) {
        const victim = this.waiting.victim(this.running)
        this.preempt(victim)
        this.waiting.addPreempted(victim)
        preempted.push(victim)
        budget += scheduledNow.get(victim) ?? 0
        scheduledNow.delete(victim)
        if (victim === req) break
        ok = this.kv.allocateSlots(req, n)
      }
      if (!ok) continue // req itself was preempted; the element at idx is now the next request
      chunks.push({ request: req, startPosition: req.numComputedTokens, numNewTokens: n, numSpecTokens: numSpec })
      scheduledNow.set(req, n)
      budget -= n
      idx = this.running.indexOf(req) + 1
    }
    // A request preempted after it was scheduled in this step must not run.
    const live = chunks.filter((ch) => ch.request.status === "running")

    if (preempted.length === 0) {
      for (let req = this.waiting.peek(); req !== undefined && budget > 0 && this.running.length < c.maxNumSeqs; req = this.waiting.peek()) {
        const prefix = this.kv.computedPrefix(req)
        // Imported KV (disaggregated decode) needs slots but no compute: it costs no budget.
        const imported = req.kvImport === null ? 0 : req.kvImport.numTokens - prefix.tokens
        let n = req.numTokens - req.numComputedTokens - prefix.tokens - imported
        n = Math.min(n, budget)
        if (c.longPrefillTokenThreshold > 0) n = Math.min(n, c.longPrefillTokenThreshold)
        if (n <= 0 || !this.kv.allocateSlots(req, imported + n, prefix)) break
        this.waiting.pop()
        if (req.numCachedPromptTokens < 0) req.numCachedPromptTokens = Math.min(prefix.tokens, req.promptTokenIds.length)
        if (req.kvImport !== null) req.kvImport.fromBlock = prefix.blocks.length
        req.numComputedTokens += prefix.tokens + imported
        req.status = "running"
        this.running.push(req)
        live.push({ request: req, startPosition: req.numComputedTokens, numNewTokens: n, numSpecTokens: 0 })
        budget -= n
      }
    }
    return { chunks: live, preempted, numBatchedTokens: live.reduce((t, ch) => t + ch.numNewTokens, 0) }
  }
}
