/**
 * The pool of physical KV blocks: ref counts, an O(1) LRU free queue, and the prefix-cache index from
 * block hash to block. Pure and synchronous; owned by the engine core.
 *
 * A free block may still hold cached KV (it has a hash): it is reused only when it reaches the head of
 * the free queue, so cached blocks are evicted least-recently-freed first and only when needed. A freed
 * block with nothing cached goes to the head instead: reused first, its memory is resident and warm,
 * while blocks never used stay untouched (a fresh pool's pages are faulted in only when needed).
 */
export class KvBlock {
  readonly id: number
  refCount = 0
  /** Prefix-cache identity of the block once it is full; null while partial or after eviction. */
  hash: number | null = null
  /** Parent hash and token ids the hash was computed from: checked on every hit to rule out collisions. */
  parentHash: number | null = null
  tokens: ReadonlyArray<number> | null = null
  prev: KvBlock | null = null
  next: KvBlock | null = null
  constructor(id: number) {
    this.id = id
  }
}

/** Doubly linked queue of free blocks threaded through the blocks themselves: every operation O(1). */
export class FreeBlockQueue {
  private head: KvBlock | null = null
  private tail: KvBlock | null = null
  length = 0

  constructor(blocks: ReadonlyArray<KvBlock>) {
    for (const b of blocks) this.append(b)
  }

  popLeft(): KvBlock | null {
    const b = this.head
    if (b !== null) this.remove(b)
    return b
  }

  prepend(b: KvBlock): void {
    b.prev = null
    b.next = this.head
    if (this.head !== null) this.head.prev = b
    else this.tail = b
    this.head = b
    this.length++
  }

  append(b: KvBlock): void {
    b.prev = this.tail
    b.next = null
    if (this.tail !== null) this.tail.next = b
    else this.head = b
    this.tail = b
    this.length++
  }

  remove(b: KvBlock): void {
    if (b.prev !== null) b.prev.next = b.next
    else this.head = b.next
    if (b.next !== null) b.next.prev = b.prev
    else this.tail = b.prev
    b.prev = b.next = null
    this.length--
  }

  /** Ids from head (next to be reused) to tail: for tests and invariant checks. */
  ids(): Array<number> {
    const out: Array<number> = []
    for (let b = this.head; b !== null; b = b.next) out.push(b.id)
    return out
  }
}

/** FNV-1a-style mixing of 32-bit words into a 52-bit integer hash (exact in a JS number). */
export const hashBlock = (parent: number | null, tokens: ArrayLike<number>, extra: ReadonlyArray<number | string>): number => {
  let h1 = 0x811c9dc5 ^ (parent === null ? 0 : parent % 0x100000000)
  let h2 = 0x01000193 ^ (parent === null ? 0x9e3779b9 : Math.floor(parent / 0x100000000))
  const mix = (x: number) => {
    h1 = Math.imul(h1 ^ x, 0x01000193) >>> 0
    h2 = Math.imul(h2 ^ ((x >>> 16) | (x << 16)), 0x5bd1e995) >>> 0
  }
  mix(tokens.length)
  for (let i = 0; i < tokens.length; i++) mix(tokens[i] | 0)
  for (const e of extra) {
    if (typeof e === "number") mix(e | 0)
    else for (let i = 0; i < e.length; i++) mix(e.charCodeAt(i))
    mix(0x7fffffff)
  }
  return (h2 & 0xfffff) * 0x100000000 + h1
}

export class BlockPool {
  readonly blocks: ReadonlyArray<KvBlock>
  readonly freeQueue: FreeBlockQueue
  /** Block 0 is never handed out (vLLM's null block: a placeholder for padded block tables). */
  readonly nullBlock: KvBlock
  private readonly cached = new Map<number, KvBlock>()

  constructor(numBlocks: number) {
    if (numBlocks < 2) throw new RangeError(`a KV pool needs at least 2 blocks, got ${numBlocks}`)
    this.blocks = Array.from({ length: numBlocks }, (_, i) => new KvBlock(i))
    this.nullBlock = this.blocks[0]
    this.freeQueue = new FreeBlockQueue(this.blocks.slice(1))
  }

  get numFree(): number {
    return this.freeQueue.length
  }

  /** Fraction of usable blocks in use (the null block excluded), as vLLM's kv_cache_usage_perc. */
  get usage(): number {
    return 1 - this.freeQueue.length / (this.blocks.length - 1)
  }

  /** The cached block holding exactly these tokens after this parent, or null. */
  lookup(hash: number, parentHash: number | null, tokens: ArrayLike<number>): KvBlock | null {
    const b = this.cached.get(hash)
    if (b === undefined || b.parentHash !== parentHash || b.tokens === null || b.tokens.length !== tokens.length) return null
    for (let i = 0; i < tokens.length; i++) if (b.tokens[i] !== tokens[i]) return null
    return b
  }

  /** Takes n blocks from the head of the free queue, evicting whatever they cached. Caller checks numFree. */
  allocate(n: number): Array<KvBlock> {
    if (n > this.freeQueue.length) throw new RangeError(`asked for ${n} blocks, ${this.freeQueue.length} free`)
    const out: Array<KvBlock> = []
    for (let i = 0; i < n; i++) {
      const b = this.freeQueue.popLeft()!
      this.evict(b)
      b.refCount = 1
      out.push(b)
    }
    return out
  }

  /** A prefix-cache hit: the block gains a holder, and leaves the free queue if it was there. */
  touch(blocks: ReadonlyArray<KvBlock>): void {
    for (const b of blocks) {
      if (b.refCount === 0) this.freeQueue.remove(b)
      b.refCount++
    }
  }

  /**
   * Drops one holder of each block. Blocks nobody holds go to the free queue: cached ones to the tail in
   * the given order, uncached ones to the head (so the last given is reused first: a request's blocks,
   * freed tail first, come back in their original order).
   */
  free(blocks: ReadonlyArray<KvBlock>): void {
    for (const b of blocks) {
      if (b.refCount <= 0) throw new Error(`block ${b.id} freed more often than held`)
      b.refCount--
      if (b.refCount > 0) continue
      // A cached block keeps its hash while free: it may be hit again until it is reallocated.
      if (b.hash !== null) this.freeQueue.append(b)
      else this.freeQueue.prepend(b)
    }
  }

  /** Registers a full block in the prefix cache. If another block already owns the hash, keeps that one. */
  cache(b: KvBlock, hash: number, parentHash: number | null, tokens: ReadonlyArray<number>): void {
    if (b.hash !== null) return
    if (this.cached.has(hash)) return
    b.hash = hash
    b.parentHash = parentHash
    b.tokens = tokens
    this.cached.set(hash, b)
  }

  private evict(b: KvBlock): void {
    if (b.hash === null) return
    if (this.cached.get(b.hash) === b) this.cached.delete(b.hash)
    b.hash = b.parentHash = null
    b.tokens = null
  }

  /** Number of hashes in the prefix-cache index. */
  get cachedBlockCount(): number {
    return this.cached.size
  }

  cachedEntries(): IterableIterator<[number, KvBlock]> {
    return this.cached.entries()
  }
}
