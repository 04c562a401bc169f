import { BlockPool, hashBlock, type KvBlock } from "./block-pool.ts"
import type { SchedulerRequest } from "./request.ts"

export interface ComputedPrefix {
  readonly blocks: ReadonlyArray<KvBlock>
  readonly tokens: number
}

const NO_PREFIX: ComputedPrefix = { blocks: [], tokens: 0 }

/**
 * Gives requests KV blocks: finds their longest cached prefix, allocates the blocks a step needs,
 * registers full blocks in the prefix cache, and releases blocks when a request finishes or is
 * preempted; counts the prefix cache's queries and hits. Pure and synchronous, owned by the engine core.
 * (Prefix caching "off" is a salt per request, see engine-core.ts: the n sequences of one request still
 * share their prompt's blocks.)
 */
export class KvCacheManager {
  readonly pool: BlockPool
  readonly blockSize: number
  /** Prompt tokens of admitted requests looked up in the prefix cache, and those found (vLLM's counters). */
  prefixCacheQueries = 0
  prefixCacheHits = 0

  constructor(numBlocks: number, blockSize: number) {
    this.pool = new BlockPool(numBlocks)
    this.blockSize = blockSize
  }

  /** Hash of each full block of the request's known tokens (prompt + output), computed incrementally. */
  private updateHashes(req: SchedulerRequest, upToTokens: number): void {
    const bs = this.blockSize
    const full = Math.floor(upToTokens / bs)
    for (let i = req.blockHashes.length; i < full; i++) {
      const parent = i === 0 ? null : req.blockHashes[i - 1]
      const extra: Array<string | number> = []
      if (req.adapterId !== null) extra.push(req.adapterId)
      if (i === 0 && req.cacheSalt !== null) extra.push(`salt:${req.cacheSalt}`)
      req.blockHashes.push(hashBlock(parent, req.tokens(i * bs, (i + 1) * bs), extra))
    }
  }

  /**
   * Longest run of leading blocks already in the prefix cache, for a request that starts from nothing
   * (new, or preempted). The hit is capped at numTokens - 1: the last token is always recomputed,
   * because its logits are needed to sample the next one.
   */
  computedPrefix(req: SchedulerRequest): ComputedPrefix {
    if (req.needsPromptLogits || req.embeds || req.numComputedTokens !== 0) return NO_PREFIX
    const bs = this.blockSize
    const maxBlocks = Math.floor((req.numTokens - 1) / bs)
    this.updateHashes(req, maxBlocks * bs)
    const blocks: Array<KvBlock> = []
    for (let i = 0; i < maxBlocks; i++) {
      const b = this.pool.lookup(req.blockHashes[i], i === 0 ? null : req.blockHashes[i - 1], req.tokens(i * bs, (i + 1) * bs))
      if (b === null) break
      blocks.push(b)
    }
    return { blocks, tokens: blocks.length * bs }
  }

  /** Blocks this request would take from the free queue to compute `numNewTokens` more tokens. */
  blocksNeeded(req: SchedulerRequest, numNewTokens: number, prefix: ComputedPrefix = NO_PREFIX): number {
    const total = Math.ceil((req.numComputedTokens + prefix.tokens + numNewTokens) / this.blockSize)
    const newBlocks = Math.max(0, total - req.blocks.length - prefix.blocks.length)
    // A cache hit on a free block takes it out of the free queue too.
    let fromFree = 0
    for (const b of prefix.blocks) if (b.refCount === 0) fromFree++
    return newBlocks + fromFree
  }

  /**
   * Reserves what the request needs to compute `numNewTokens` more tokens (after `admittedWith`, the
   * prefix `computedPrefix` found when the request is being admitted). Returns false, changing nothing,
   * when the pool is too small.
   */
  allocateSlots(req: SchedulerRequest, numNewTokens: number, admittedWith?: ComputedPrefix): boolean {
    const prefix = admittedWith ?? NO_PREFIX
    if (this.blocksNeeded(req, numNewTokens, prefix) > this.pool.numFree) return false
    if (admittedWith !== undefined && req.numComputedTokens === 0) {
      this.prefixCacheQueries += req.numTokens
      this.prefixCacheHits += prefix.tokens
    }
    if (prefix.blocks.length > 0) {
      this.pool.touch(prefix.blocks)
      req.blocks.push(...prefix.blocks)
      req.numCachedBlocks = prefix.blocks.length
    }
    const total = Math.ceil((req.numComputedTokens + prefix.tokens + numNewTokens) / this.blockSize)
    if (total > req.blocks.length) req.blocks.push(...this.pool.allocate(total - req.blocks.length))
    // Register blocks that will be full once this step is computed. Another request may hit them later
    // in this same step: the forward pass writes every token's K/V before any attention reads it.
    this.cacheFullBlocks(req, Math.min(req.numComputedTokens + prefix.tokens + numNewTokens, req.numTokens))
    return true
  }

  private cacheFullBlocks(req: SchedulerRequest, numKnownTokens: number): void {
    const full = Math.floor(numKnownTokens / this.blockSize)
    if (full <= req.numCachedBlocks) return
    this.updateHashes(req, full * this.blockSize)
    const bs = this.blockSize
    for (let i = req.numCachedBlocks; i < full; i++) {
      this.pool.cache(req.blocks[i], req.blockHashes[i], i === 0 ? null : req.blockHashes[i - 1], req.tokens(i * bs, (i + 1) * bs))
    }
    req.numCachedBlocks = full
  }

  /**
   * Gives back the blocks past the first `numTokens` tokens (speculative tokens the target rejected).
   * They were never registered in the prefix cache: registration stops at the request's known tokens.
   */
  trimTo(req: SchedulerRequest, numTokens: number): void {
    const keep = Math.ceil(numTokens / this.blockSize)
    if (req.blocks.length <= keep) return
    this.pool.free(req.blocks.splice(keep).reverse())
  }

  /** Releases the request's blocks, tail first, so its last blocks are the first to be evicted. */
  free(req: SchedulerRequest): void {
    this.pool.free([...req.blocks].reverse())
    req.blocks = []
    req.numCachedBlocks = 0
  }

  /** Block table (physical block ids) for the forward pass. */
  blockTable(req: SchedulerRequest): Int32Array {
    const t = new Int32Array(req.blocks.length)
    for (let i = 0; i < t.length; i++) t[i] = req.blocks[i].id
    return t
  }

  /**
   * Every block is either free (ref count 0, in the free queue exactly once) or held exactly as many
   * times as the live requests' block tables hold it; each request's cached blocks hold the tokens their
   * hashes were computed from. Throws with the first violation found.
   */
  checkInvariants(live: Iterable<SchedulerRequest>): void {
    const pool = this.pool
    const held = new Map<number, number>()
    for (const req of live) {
      for (const b of req.blocks) {
        if (b === pool.nullBlock) throw new Error(`request ${req.id} holds the null block`)
        held.set(b.id, (held.get(b.id) ?? 0) + 1)
      }
      const bs = this.blockSize
      for (let i = 0; i < req.blocks.length; i++) {
        const b = req.blocks[i]
        if (b.hash === null || i >= req.blockHashes.length || b.hash !== req.blockHashes[i]) continue
        const want = req.tokens(i * bs, (i + 1) * bs)
        if (b.tokens === null || want.some((t, j) => b.tokens![j] !== t)) throw new Error(`block ${b.id} of ${req.id} cached with other tokens`)
      }
    }
    const free = pool.freeQueue.ids()
    const freeSet = new Set(free)
    if (freeSet.size !== free.length) throw new Error("a block is in the free queue twice")
    if (freeSet.has(0)) throw new Error("the null block is in the free queue")
    for (const b of pool.blocks) {
      if (b === pool.nullBlock) continue
      const h = held.get(b.id) ?? 0
      if (b.refCount !== h) throw new Error(`block ${b.id}: ref count ${b.refCount}, held ${h} times`)
      if ((b.refCount === 0) !== freeSet.has(b.id)) throw new Error(`block ${b.id}: ref count ${b.refCount} but ${freeSet.has(b.id) ? "" : "not "}free`)
    }
    for (const [hash, b] of pool.cachedEntries()) {
      if (b.hash !== hash) throw new Error(`cache index maps ${hash} to block ${b.id} whose hash is ${b.hash}`)
      if (b.tokens === null || b.tokens.length !== this.blockSize) throw new Error(`cached block ${b.id} is not full`)
    }
  }
}
