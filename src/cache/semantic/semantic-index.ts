/**
 * Nearest-neighbour search over the stored queries of a semantic cache, in process: each partition (an
 * opaque key the caller makes of scope, model group and parameters) keeps its vectors in one contiguous
 * Float32Array, scanned exactly (a dot product per entry: vectors are unit length). At 10k entries of
 * 100 dimensions a lookup scans 4 MB in well under a millisecond (bench/semantic-cache.ts), with no
 * approximate index to build or tune. The whole index holds at most `maxEntries`, evicting the least
 * recently used (added or `touch`ed).
 *
 * An entry's `id` is the caller's: it names the stored response. The index may outlive that response
 * (another replica deleted it, its TTL ran out), so a hit is a candidate: the caller fetches the
 * response by id and, if it is gone, removes the entry and treats the lookup as a miss.
 */
export interface SemanticEntry {
  readonly id: string
  readonly partition: string
  /** The normalized query (see normalized-query.ts), for the guard. */
  readonly text: string
  readonly vector: Float32Array
}

export interface SemanticCandidate {
  readonly id: string
  readonly text: string
  readonly similarity: number
}

interface Partition {
  readonly slotOf: Map<string, number>
  ids: Array<string>
  texts: Array<string>
  vectors: Float32Array
  count: number
}

const INITIAL_CAPACITY = 16

export class SemanticIndex {
  private readonly partitions = new Map<string, Partition>()
  /** id -> partition key, in least-recently-used-first order. */
  private readonly recency = new Map<string, string>()

  readonly dimensions: number
  readonly maxEntries: number

  constructor(dimensions: number, maxEntries: number) {
    this.dimensions = dimensions
    this.maxEntries = maxEntries
    if (!Number.isInteger(dimensions) || dimensions <= 0) throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`)
    if (!Number.isInteger(maxEntries) || maxEntries <= 0) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`)
  }

  get size(): number {
    return this.recency.size
  }

  /** Adds an entry (replacing one with the same id), evicting the least recently used beyond maxEntries. */
  add(entry: SemanticEntry): void {
    if (entry.vector.length !== this.dimensions) throw new RangeError(`vector has ${entry.vector.length} dimensions, the index ${this.dimensions}`)
    this.remove(entry.id)
    let p = this.partitions.get(entry.partition)
    if (p === undefined) {
      p = { slotOf: new Map(), ids: [], texts: [], vectors: new Float32Array(INITIAL_CAPACITY * this.dimensions), count: 0 }
      this.partitions.set(entry.partition, p)
    }
    if ((p.count + 1) * this.dimensions > p.vectors.length) {
      const grown = new Float32Array(p.vectors.length * 2)
      grown.set(p.vectors)
      p.vectors = grown
    }
    p.vectors.set(entry.vector, p.count * this.dimensions)
    p.ids[p.count] = entry.id
    p.texts[p.count] = entry.text
    p.slotOf.set(entry.id, p.count)
    p.count++
    this.recency.set(entry.id, entry.partition)
    while (this.recency.size > this.maxEntries) this.remove(this.recency.keys().next().value!)
  }

  /** Marks an entry used (a confirmed hit), so eviction takes it last. */
  touch(id: string): void {
    const partition = this.recency.get(id)
    if (partition === undefined) return
    this.recency.delete(id)
    this.recency.set(id, partition)
  }

  /**
   * The `k` entries of the partition most similar to `vector` (a unit vector) with similarity >=
   * `minSimilarity`, best first.
   */
  nearest(partition: string, vector: Float32Array, k: number, minSimilarity: number): Array<SemanticCandidate> {
    const p = this.partitions.get(partition)
    if (p === undefined || vector.length !== this.dimensions) return []
    const best: Array<{ slot: number; similarity: number }> = []
    const dim = this.dimensions, v = p.vectors
    const tail = dim - (dim % 4)
    for (let slot = 0; slot < p.count; slot++) {
      // Four partial sums: independent multiply-adds the CPU can overlap.
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0
      const base = slot * dim
      for (let d = 0; d < tail; d += 4) {
        s0 += v[base + d] * vector[d]
        s1 += v[base + d + 1] * vector[d + 1]
        s2 += v[base + d + 2] * vector[d + 2]
        s3 += v[base + d + 3] * vector[d + 3]
      }
      for (let d = tail; d < dim; d++) s0 += v[base + d] * vector[d]
      const dot = s0 + s1 + s2 + s3
      if (dot < minSimilarity || (best.length === k && dot <= best[k - 1].similarity)) continue
      let at = best.length < k ? best.length : k - 1
      while (at > 0 && best[at - 1].similarity < dot) at--
      best.splice(at, 0, { slot, similarity: dot })
      if (best.length > k) best.pop()
    }
    return best.map(({ slot, similarity }) => ({ id: p.ids[slot], text: p.texts[slot], similarity }))
  }

  /** Removes one entry; false when it was not there. */
  remove(id: string): boolean {
    const partition = this.recency.get(id)
    if (partition === undefined) return false
    this.recency.delete(id)
    const p = this.partitions.get(partition)!
    const slot = p.slotOf.get(id)!
    p.slotOf.delete(id)
    const last = p.count - 1
    // The last entry moves into the hole: slots stay contiguous.
    if (slot !== last) {
      p.ids[slot] = p.ids[last]
      p.slotOf.set(p.ids[slot], slot)
      p.texts[slot] = p.texts[last]
      p.vectors.copyWithin(slot * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions)
    }
    p.ids.length = last
    p.texts.length = last
    p.count = last
    if (p.count === 0) this.partitions.delete(partition)
    return true
  }

  /** Removes a partition's entries; returns how many. */
  clearPartition(partition: string): number {
    const p = this.partitions.get(partition)
    if (p === undefined) return 0
    for (const id of p.ids) this.recency.delete(id)
    this.partitions.delete(partition)
    return p.count
  }

  /** Removes the entries of every partition whose key starts with `prefix` ("" clears all); returns how many. */
  clearPrefix(prefix: string): number {
    return this.clearWhere((key) => key.startsWith(prefix))
  }

  /** Removes the entries of every partition whose key `matches`; returns how many. */
  clearWhere(matches: (partition: string) => boolean): number {
    let removed = 0
    for (const key of [...this.partitions.keys()]) if (matches(key)) removed += this.clearPartition(key)
    return removed
  }
}
