import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor } from "../../../src/engine/engine-core.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../../src/engine/scheduler.ts"

// With sampling, verification must leave the target's distribution unchanged. A target whose every row
// is the same 4-token distribution makes the output i.i.d.: single tokens and consecutive pairs must
// follow p and p x p, although n-gram drafts (which always find a match in a 4-token vocabulary) propose
// repetitions of earlier text at every step. Accepting drafts too often would skew the pairs toward them.
const P = [0.4, 0.3, 0.2, 0.1]
const V = P.length
const logP = Float32Array.from(P, Math.log)
const executor: ModelExecutor = {
  vocabSize: V,
  execute: (batch) => {
    const out = new Float32Array(batch.logitsIndices.length * V)
    for (let r = 0; r < batch.logitsIndices.length; r++) out.set(logP, r * V)
    return out
  }
}

const chiSquare = (counts: ArrayLike<number>, expected: ArrayLike<number>) => {
  let x = 0
  for (let i = 0; i < counts.length; i++) x += (counts[i] - expected[i]) ** 2 / expected[i]
  return x
}

describe("rejection sampling of n-gram drafts", () => {
  it("keeps the target distribution: chi-square over 21,000 tokens (singles and pairs)", () => {
    const perRequest = 2100, requests = 10
    const core = new EngineCore({
      vocabSize: V, blockSize: 16, numBlocks: requests * (perRequest / 16 + 4), enablePrefixCaching: true, eosTokenIds: [], tokenizer: null,
      speculative: { method: "ngram", numSpeculativeTokens: 3, promptLookupMin: 1, promptLookupMax: 3, disableByBatchSize: null },
      scheduler: defaultSchedulerConfig(4096)
    })
    const got = new Map<string, Array<number>>()
    for (let i = 0; i < requests; i++) {
      core.add({ id: `s${i}`, promptTokenIds: [0, 1, 2, 3, 0, 1], params: defaultSamplingParams({ temperature: 1, seed: 7000 + i, maxTokens: perRequest, ignoreEos: true }) })
      got.set(`s${i}`, [])
    }
    while (core.numLive > 0) for (const o of core.step(executor, 0)) got.get(o.requestId)!.push(...o.tokenIds)

    const single = new Array<number>(V).fill(0)
    const pairs = new Array<number>(V * V).fill(0)
    let n = 0, nPairs = 0
    for (const toks of got.values()) {
      expect(toks.length).toBe(perRequest)
      toks.forEach((t, i) => {
        single[t]++
        n++
        if (i > 0) {
          pairs[toks[i - 1] * V + t]++
          nPairs++
        }
      })
    }
    expect(n).toBeGreaterThanOrEqual(20_000)
    // Critical values at p = 0.001: 16.27 for 3 degrees of freedom, 37.70 for 15.
    expect(chiSquare(single, P.map((p) => p * n))).toBeLessThan(16.27)
    expect(chiSquare(pairs, P.flatMap((a) => P.map((b) => a * b * nPairs)))).toBeLessThan(37.7)

    // Speculation ran: most steps carried drafts; acceptance was partial.
    const st = core.stats().specDecode!
    expect(st.numDraftTokens).toBeGreaterThan(10_000)
    const rate = st.numAcceptedTokens / st.numDraftTokens
    expect(rate).toBeGreaterThan(0.1)
    expect(rate).toBeLessThan(0.6)
  })
})
