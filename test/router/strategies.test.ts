import { describe, expect, it } from "vitest"
import { CircuitBreaker } from "../../src/router/circuit-breaker.ts"
import type { DeploymentConfig } from "../../src/router/config.ts"
import { DeploymentState } from "../../src/router/deployment-state.ts"
import { localProvider } from "../../src/router/providers/local.ts"
import { retryDelayMs } from "../../src/router/retry-delay.ts"
import { rank, seededRandom, weightedShuffle } from "../../src/router/strategies.ts"

const deployment = (id: string, fields: Partial<DeploymentConfig> = {}) =>
  new DeploymentState({
    id, group: "g", provider: "openai", model: id, apiBase: "http://x", apiKey: undefined, rpm: undefined, tpm: undefined, weight: undefined,
    timeoutMs: 1000, streamTimeoutMs: 1000, maxInputTokens: undefined, maxParallelRequests: undefined, order: undefined, extraHeaders: {}, prices: { input: 0, cachedInput: 0, output: 0 }, tags: [], ...fields
  }, localProvider, new CircuitBreaker({ allowedFails: 1, windowMs: 60_000, cooldownMs: 5_000 }))

const ids = (ds: ReadonlyArray<DeploymentState>) => ds.map((d) => d.config.id)
const ctx = (seed = 7) => ({ now: 0, promptTokens: 10, random: seededRandom(seed) })

describe("routing strategies", () => {
  it("simple-shuffle: seeded order is reproducible, and picks follow the weights", () => {
    const ds = [deployment("a", { weight: 1 }), deployment("b", { weight: 3 }), deployment("c", { rpm: 6 })]
    expect(ids(rank("simple-shuffle", ds, ctx(1)))).toEqual(ids(rank("simple-shuffle", ds, ctx(1))))
    const random = seededRandom(42)
    const first = new Map<string, number>()
    for (let i = 0; i < 10_000; i++) {
      const id = weightedShuffle(ds, random)[0].config.id
      first.set(id, (first.get(id) ?? 0) + 1)
    }
    // weights 1 : 3 : 6 (rpm stands in for a missing weight)
    expect(first.get("a")! / 10_000).toBeCloseTo(0.1, 1)
    expect(first.get("b")! / 10_000).toBeCloseTo(0.3, 1)
    expect(first.get("c")! / 10_000).toBeCloseTo(0.6, 1)
  })

  it("least-busy: fewest requests in flight first", () => {
    const [a, b, c] = [deployment("a"), deployment("b"), deployment("c")]
    for (let i = 0; i < 3; i++) a.begin(0, 0)
    c.begin(0, 0)
    expect(ids(rank("least-busy", [a, b, c], ctx()))).toEqual(["b", "c", "a"])
  })

  it("latency-based: unmeasured first (to measure it), then the lowest EWMA", () => {
    const [a, b, c, d] = [deployment("a"), deployment("b"), deployment("c"), deployment("d")]
    a.answered(100)
    b.answered(20)
    c.answered(50)
    c.answered(10) // 50 + 0.3 * (10 - 50) = 38
    expect(c.latencyMs).toBeCloseTo(38)
    expect(ids(rank("latency-based-routing", [a, b, c, d], ctx()))).toEqual(["d", "b", "c", "a"])
  })

  it("cost-based: cheapest input + output price first", () => {
    const ds = [deployment("a", { prices: { input: 5, cachedInput: 5, output: 15 } }), deployment("b", { prices: { input: 0.5, cachedInput: 0.5, output: 1.5 } }), deployment("c", { prices: { input: 1, cachedInput: 1, output: 2 } })]
    expect(ids(rank("cost-based-routing", ds, ctx()))).toEqual(["b", "c", "a"])
  })

  it("usage-based: only deployments under rpm/tpm this minute, least used first", () => {
    const a = deployment("a", { tpm: 1000 })
    const b = deployment("b", { tpm: 1000 })
    const c = deployment("c", { rpm: 1 })
    a.begin(0, 500)
    b.begin(0, 100)
    c.begin(0, 10)
    expect(ids(rank("usage-based-routing", [a, b, c], ctx()))).toEqual(["b", "a"])
    // a new minute: everything has room again
    expect(ids(rank("usage-based-routing", [a, b, c], { ...ctx(), now: 60_000 })).sort()).toEqual(["a", "b", "c"])
  })
})

describe("circuit breaker (cooldown)", () => {
  it("opens after more than allowed_fails failures in the window, lets one probe through after the cooldown, closes on its success", () => {
    const b = new CircuitBreaker({ allowedFails: 2, windowMs: 1000, cooldownMs: 500 })
    b.onFailure(0)
    b.onFailure(10)
    expect(b.state(20)).toBe("closed")
    b.onFailure(2000) // the first two fell out of the window
    b.onFailure(2010)
    expect(b.state(2020)).toBe("closed")
    b.onFailure(2020)
    expect(b.state(2030)).toBe("open")
    expect(b.tryAcquire(2519)).toBe(false)
    expect(b.state(2520)).toBe("half-open")
    expect(b.tryAcquire(2520)).toBe(true) // the probe
    expect(b.tryAcquire(2521)).toBe(false) // only one
    b.onSuccess()
    expect(b.state(2530)).toBe("closed")
  })

  it("a failed probe opens it again for a full cooldown", () => {
    const b = new CircuitBreaker({ allowedFails: 0, windowMs: 1000, cooldownMs: 500 })
    b.onFailure(0)
    expect(b.tryAcquire(500)).toBe(true)
    b.onFailure(600)
    expect(b.state(1099)).toBe("open")
    expect(b.state(1100)).toBe("half-open")
  })
  it("counts cooldowns entered: a failed probe is one, a late failure during a cooldown is not", () => {
    const b = new CircuitBreaker({ allowedFails: 0, windowMs: 1000, cooldownMs: 500 })
    expect(b.cooldowns).toBe(0)
    b.onFailure(0)
    expect(b.cooldowns).toBe(1)
    b.onFailure(100) // a request sent before the cooldown fails late: the cooldown is extended, not a new one
    expect(b.cooldowns).toBe(1)
    expect(b.tryAcquire(600)).toBe(true)
    b.onFailure(650) // the probe fails
    expect(b.cooldowns).toBe(2)
  })
})

describe("retry backoff", () => {
  it("doubles from the base with equal jitter, capped, honouring Retry-After", () => {
    const low = () => 0
    const high = () => 0.999999
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 100, 1000, undefined, low))).toEqual([50, 100, 200, 400])
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 100, 1000, undefined, high))).toEqual([100, 200, 400, 800, 1000])
    expect(retryDelayMs(1, 100, 1000, 700, low)).toBe(700)
    expect(retryDelayMs(1, 100, 1000, 60_000, low)).toBe(1000)
  })
})
