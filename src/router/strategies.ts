import type { RoutingStrategy } from "./config.ts"
import type { DeploymentState } from "./deployment-state.ts"

/**
 * Routing strategies: each orders a group's available deployments, best first; the router tries them in
 * that order. Pure apart from `random` (seeded in tests), which breaks ties and drives the shuffle.
 */
export interface RankContext {
  readonly now: number
  readonly promptTokens: number
  readonly random: () => number
}

/** LiteLLM's weight: `weight`, else rpm, else tpm, else 1. */
const weightOf = (d: DeploymentState) => d.config.weight ?? d.config.rpm ?? d.config.tpm ?? 1

/** Weighted sampling without replacement: the whole order, each pick in proportion to its weight. */
export const weightedShuffle = (deployments: ReadonlyArray<DeploymentState>, random: () => number): Array<DeploymentState> => {
  const pool = [...deployments]
  const out: Array<DeploymentState> = []
  while (pool.length > 0) {
    const total = pool.reduce((s, d) => s + weightOf(d), 0)
    let r = random() * total
    let i = 0
    while (i < pool.length - 1 && r >= weightOf(pool[i])) r -= weightOf(pool[i++])
    out.push(pool.splice(i, 1)[0])
  }
  return out
}

/** Sorts by key, ties in random order (a shuffle first, then a stable sort). */
const sortBy = (deployments: ReadonlyArray<DeploymentState>, random: () => number, key: (d: DeploymentState) => number) =>
  weightedShuffle(deployments, random).sort((a, b) => key(a) - key(b))

const pricePerToken = (d: DeploymentState) => d.config.prices.input + d.config.prices.output

export const rank = (strategy: RoutingStrategy, deployments: ReadonlyArray<DeploymentState>, ctx: RankContext): Array<DeploymentState> => {
  switch (strategy) {
    case "simple-shuffle":
      return weightedShuffle(deployments, ctx.random)
    case "least-busy":
      return sortBy(deployments, ctx.random, (d) => d.inFlight)
    case "latency-based-routing":
      return sortBy(deployments, ctx.random, (d) => d.latencyMs ?? -1)
    case "cost-based-routing":
      return sortBy(deployments, ctx.random, pricePerToken)
    case "usage-based-routing":
    case "usage-based-routing-v2": {
      // Only deployments with room under rpm/tpm; the least used (relative to its tpm) first.
      const withRoom = deployments.filter((d) => d.hasRoom(ctx.now, ctx.promptTokens))
      return sortBy(withRoom, ctx.random, (d) => {
        const { tokens, requests } = d.usage(ctx.now)
        return d.config.tpm !== undefined ? tokens / Math.max(1, d.config.tpm) : d.config.rpm !== undefined ? requests / Math.max(1, d.config.rpm) : tokens
      })
    }
  }
}

/** A deterministic generator (mulberry32) for tests and benchmarks that need a reproducible order. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
