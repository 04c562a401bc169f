/**
 * One subject's sliding window: admitted requests in arrival order, as a ring of (time, tokens) pairs in
 * two typed arrays. Entries are added at the current time, so the oldest is always at the front and
 * pruning pops from there. An entry is named by its sequence number (`add` returns it), which stays
 * valid while the entry is in the window: no object, string or map entry per request is kept for the
 * window's 60 s (at thousands of requests per second those used to be hundreds of thousands of live
 * objects, copied by every young-generation GC until promoted). The ring doubles when full and keeps
 * its size afterwards (16 bytes per request of the busiest window seen).
 */
export class SlidingLog {
  private at = new Float64Array(16)
  private tokensAt = new Float64Array(16)
  /** Slots in the ring (a sequence number's slot is the number modulo this: numbers pass 2^31 in days). */
  private size = 16
  /** Sequence numbers: the oldest entry, and the next one to be added. */
  private head = 0
  private tail = 0
  private total = 0
  /** When the newest entry was added (entries are added at the current time, so it is the last one). */
  private newestAt = 0
  private readonly windowMs: number

  constructor(windowMs: number) {
    this.windowMs = windowMs
  }

  get requests(): number {
    return this.tail - this.head
  }

  get tokens(): number {
    return this.total
  }

  get isEmpty(): boolean {
    return this.tail === this.head
  }

  /** Drops entries that left the window (now - window, now]. */
  prune(now: number): void {
    const cutoff = now - this.windowMs
    while (this.head < this.tail && this.at[this.head % this.size] <= cutoff) {
      this.total -= this.tokensAt[this.head % this.size]
      this.head++
    }
    // Exact zero once empty (no float residue from adds and subtractions).
    if (this.head === this.tail) this.total = 0
  }

  /** Records a request; returns its sequence number, for `adjust`. */
  add(now: number, tokens: number): number {
    if (this.tail - this.head === this.size) this.grow()
    const i = this.tail % this.size
    this.at[i] = now
    this.tokensAt[i] = tokens
    this.total += tokens
    this.newestAt = Math.max(this.newestAt, now)
    return this.tail++
  }

  /** Adjusts an entry's tokens, not below zero; an entry already out of the window is ignored. */
  adjust(sequence: number, delta: number): void {
    if (sequence < this.head || sequence >= this.tail) return
    const i = sequence % this.size
    const next = Math.max(0, this.tokensAt[i] + delta)
    this.total += next - this.tokensAt[i]
    this.tokensAt[i] = next
  }

  resetMs(now: number): number {
    return this.isEmpty ? 0 : Math.max(0, this.newestAt + this.windowMs - now)
  }

  /**
   * How long until `freeRequests` requests and `freeTokens` tokens have left the window: walk from the
   * oldest entry until enough has gone. Infinity when the whole window is not enough.
   */
  waitMs(now: number, freeRequests: number, freeTokens: number): number {
    let requests = 0, tokens = 0
    for (let s = this.head; s < this.tail; s++) {
      requests += 1
      tokens += this.tokensAt[s % this.size]
      if (requests >= freeRequests && tokens >= freeTokens) return Math.max(0, this.at[s % this.size] + this.windowMs - now)
    }
    return Infinity
  }

  /** Doubles the ring; entries keep their sequence numbers (and move to their slots in the wider ring). */
  private grow(): void {
    const size = this.size * 2
    const at = new Float64Array(size), tokensAt = new Float64Array(size)
    for (let s = this.head; s < this.tail; s++) {
      at[s % size] = this.at[s % this.size]
      tokensAt[s % size] = this.tokensAt[s % this.size]
    }
    this.at = at
    this.tokensAt = tokensAt
    this.size = size
  }
}
