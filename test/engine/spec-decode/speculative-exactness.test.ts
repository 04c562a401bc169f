import { describe, expect, it } from "vitest"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import type { SpeculativeConfig } from "../../../src/engine/spec-decode/config.ts"
import { prng } from "../../support/random-model.ts"
import { testModelDir } from "../../support/models.ts"
import { randomArrivals, randomToken, runArrivals } from "../../support/arrivals.ts"
import { greedy, speculativeCores } from "../../support/spec-decode-core.ts"

// Speculation must never change a token: n-gram drafts verified by the real model, under load (random
// arrivals, lengths, aborts, forced preemptions), give exactly the tokens plain decoding gives.
const loaded = loadModelDir(testModelDir())
const V = loaded.config.vocabSize
const BS = 16
const NGRAM: SpeculativeConfig = { method: "ngram", numSpeculativeTokens: 4, promptLookupMin: 1, promptLookupMax: 3, disableByBatchSize: null }

const { makeCore, runAlone } = speculativeCores(loaded, BS)

/** A prompt that repeats a random phrase, so that prompt lookup finds drafts. */
const repetitivePrompt = (rand: () => number) => {
  const phrase = Array.from({ length: 3 + Math.floor(rand() * 8) }, () => randomToken(rand, V))
  const out: Array<number> = []
  const len = 8 + Math.floor(rand() * 80)
  while (out.length < len) out.push(...(rand() < 0.7 ? phrase : [randomToken(rand, V)]))
  return out
}

describe("speculative decoding (n-gram) on the real model", () => {
  it("exactness under load: 32 requests, random arrivals/lengths/aborts, forced preemptions, give the tokens plain decoding gives alone", () => {
    const rand = prng(2121)
    const specs = randomArrivals(rand, () => repetitivePrompt(rand), { count: 32, idPrefix: "r", minTokens: 4, tokenSpan: 40, arriveWithin: 40, abortChance: 0.2, abortWithin: 60 })
    const { core, executor } = makeCore(41, NGRAM, { maxNumBatchedTokens: 256, longPrefill: 48 })
    const { got, finished } = runArrivals(core, executor, specs, greedy)
    const st = core.stats().specDecode!
    expect(specs.some((s) => !finished.has(s.id))).toBe(true)
    expect(core.scheduler.numPreemptions).toBeGreaterThan(0)
    expect(finished.size).toBeGreaterThan(20)
    // Drafts were verified, some accepted and some rejected: both paths ran.
    expect(st.numAcceptedTokens).toBeGreaterThan(0)
    expect(st.numAcceptedTokens).toBeLessThan(st.numDraftTokens)
    for (const s of specs) {
      if (!finished.has(s.id)) continue
      expect(got.get(s.id), s.id).toEqual(runAlone(s.prompt, greedy(s.maxTokens), null).tokens)
    }
    expect(core.numLive).toBe(0)
    expect(core.kv.pool.usage).toBe(0)
    core.checkInvariants()
  })

  it("a request that repeats its prompt decodes in fewer steps, same tokens; a request may opt out", () => {
    const phrase = [11, 42, 7, 99, 23, 5, 61, 17]
    const prompt = [...phrase, ...phrase, ...phrase]
    const plain = runAlone(prompt, greedy(40), null)
    const spec = runAlone(prompt, greedy(40), NGRAM)
    expect(spec.tokens).toEqual(plain.tokens)
    const st = spec.stats.specDecode!
    expect(st.numDraftTokens).toBeGreaterThan(0)
    expect(st.numAcceptedTokensPerPos.length).toBe(4)
    expect(st.numAcceptedTokensPerPos.reduce((a, b) => a + b, 0)).toBe(st.numAcceptedTokens)
    // Each step yields 1 + its accepted drafts; the prefill step yields one token.
    expect(spec.steps).toBe(plain.steps - st.numAcceptedTokens)

    const { core, executor } = makeCore(16, NGRAM)
    core.add({ id: "out", promptTokenIds: prompt, params: greedy(40), speculate: false })
    const tokens: Array<number> = []
    while (core.has("out")) for (const o of core.step(executor, 0)) tokens.push(...o.tokenIds)
    expect(tokens).toEqual(plain.tokens)
    expect(core.stats().specDecode!.numDrafts).toBe(0)
  })

  it("seeded sampling gives the same tokens with and without speculation", () => {
    const phrase = [11, 42, 7, 99, 23, 5]
    const prompt = [...phrase, ...phrase, ...phrase, ...phrase]
    for (const seed of [1, 2, 3]) {
      const params = defaultSamplingParams({ temperature: 0.3, topP: 0.9, seed, maxTokens: 30, ignoreEos: true })
      const spec = runAlone(prompt, params, NGRAM)
      expect(spec.tokens).toEqual(runAlone(prompt, params, null).tokens)
      expect(spec.stats.specDecode!.numDrafts).toBeGreaterThan(0)
    }
  })

  it("stops past disable_by_batch_size running sequences", () => {
    const prompt = [11, 42, 7, 99, 11, 42, 7, 99, 11, 42, 7]
    const { core, executor } = makeCore(32, { ...NGRAM, disableByBatchSize: 2 })
    for (const id of ["a", "b", "c"]) core.add({ id, promptTokenIds: prompt, params: greedy(10) })
    while (core.numLive > 0) core.step(executor, 0)
    expect(core.stats().specDecode!.numDrafts).toBe(0)
  })
})
