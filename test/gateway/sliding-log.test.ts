import { describe, expect, it } from "vitest"
import { SlidingLog } from "../../src/gateway/limits/sliding-log.ts"

/** The obvious implementation the ring must agree with: every entry an object in an array, forever. */
class ReferenceLog {
  readonly entries: Array<{ readonly at: number; tokens: number; pruned: boolean }> = []
  readonly windowMs: number
  constructor(windowMs: number) {
    this.windowMs = windowMs
  }
  live() {
    return this.entries.filter((e) => !e.pruned)
  }
  prune(now: number) {
    for (const e of this.entries) if (e.at <= now - this.windowMs) e.pruned = true
  }
  add(now: number, tokens: number) {
    return this.entries.push({ at: now, tokens, pruned: false }) - 1
  }
  adjust(index: number, delta: number) {
    const e = this.entries[index]
    if (e !== undefined && !e.pruned) e.tokens = Math.max(0, e.tokens + delta)
  }
  waitMs(now: number, freeRequests: number, freeTokens: number) {
    let requests = 0, tokens = 0
    for (const e of this.live()) {
      requests += 1
      tokens += e.tokens
      if (requests >= freeRequests && tokens >= freeTokens) return Math.max(0, e.at + this.windowMs - now)
    }
    return Infinity
  }
}

/** A small deterministic generator (mulberry32), so a failure replays. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("sliding log (ring of entries)", () => {
  it("agrees with a plain list through growth, wrap-around, pruning and adjustments", () => {
    const next = random(42)
    const windowMs = 1_000
    const log = new SlidingLog(windowMs)
    const reference = new ReferenceLog(windowMs)
    const sequences: Array<number> = [] // the ring's sequence number of each reference entry
    let now = 0
    for (let step = 0; step < 20_000; step++) {
      // Bursts (the ring grows to hundreds of entries) and lulls (it drains and wraps).
      now += step % 5_000 < 2_500 ? Math.floor(next() * 3) : Math.floor(next() * 40)
      log.prune(now)
      reference.prune(now)
      const op = next()
      if (op < 0.6) {
        const tokens = Math.floor(next() * 100)
        sequences[reference.add(now, tokens)] = log.add(now, tokens)
      } else if (op < 0.9 && sequences.length > 0) {
        // Any entry, old ones (out of the window: ignored) included.
        const index = Math.floor(next() * sequences.length)
        const delta = Math.floor(next() * 200) - 100
        log.adjust(sequences[index], delta)
        reference.adjust(index, delta)
      }
      const live = reference.live()
      expect(log.requests).toBe(live.length)
      expect(log.tokens).toBe(live.reduce((n, e) => n + e.tokens, 0))
      expect(log.isEmpty).toBe(live.length === 0)
      if (step % 97 === 0) {
        const wantRequests = Math.floor(next() * 50), wantTokens = Math.floor(next() * 2_000)
        expect(log.waitMs(now, wantRequests, wantTokens)).toBe(reference.waitMs(now, wantRequests, wantTokens))
        expect(log.resetMs(now)).toBe(live.length === 0 ? 0 : Math.max(0, live[live.length - 1].at + windowMs - now))
      }
    }
  })

  it("keeps no object per request: entries are slots in two typed arrays", () => {
    const log = new SlidingLog(60_000)
    for (let i = 0; i < 10_000; i++) log.add(i, 1)
    const own = Object.values(log as unknown as Record<string, unknown>)
    // Two arrays of (time, tokens) pairs sized for the window, and numbers.
    expect(own.filter((v) => v instanceof Float64Array).map((a) => (a as Float64Array).length)).toEqual([16_384, 16_384])
    expect(own.every((v) => v instanceof Float64Array || typeof v === "number")).toBe(true)
  })
})
