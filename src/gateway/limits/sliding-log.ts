/**
 * One subject's sliding window: admitted requests in arrival order (a Map keeps insertion order, and
 * entries are inserted at the current time, so its front is always the oldest).
 */
export class SlidingLog {
  private readonly entries = new Map<string, { readonly at: number; tokens: number }>()
  private total = 0
  /** When the newest entry was added (entries are added at the current time, so it is the last one). */
  private newestAt = 0
  private readonly windowMs: number

  constructor(windowMs: number) {
    this.windowMs = windowMs
  }

  get requests(): number {
    return this.entries.size
  }

  get tokens(): number {
    return this.total
  }

  get isEmpty(): boolean {
    return this.entries.size === 0
  }

  /** Drops entries that left the window (now - window, now]. */
  prune(now: number): void {
    const cutoff = now - this.windowMs
    for (const [lease, e] of this.entries) {
      if (e.at > cutoff) break
      this.total -= e.tokens
      this.entries.delete(lease)
    }
  }

  add(now: number, lease: string, tokens: number): void {
    this.entries.set(lease, { at: now, tokens })
    this.total += tokens
    this.newestAt = Math.max(this.newestAt, now)
  }

  /** Adjusts a lease's tokens, not below zero; a lease already out of the window is ignored. */
  adjust(lease: string, delta: number): void {
    const e = this.entries.get(lease)
    if (e === undefined) return
    const next = Math.max(0, e.tokens + delta)
    this.total += next - e.tokens
    e.tokens = next
  }

  resetMs(now: number): number {
    return this.entries.size === 0 ? 0 : Math.max(0, this.newestAt + this.windowMs - now)
  }

  /**
   * How long until `freeRequests` requests and `freeTokens` tokens have left the window: walk from the
   * oldest entry until enough has gone. Infinity when the whole window is not enough.
   */
  waitMs(now: number, freeRequests: number, freeTokens: number): number {
    let requests = 0, tokens = 0
    for (const e of this.entries.values()) {
      requests += 1
      tokens += e.tokens
      if (requests >= freeRequests && tokens >= freeTokens) return Math.max(0, e.at + this.windowMs - now)
    }
    return Infinity
  }
}
