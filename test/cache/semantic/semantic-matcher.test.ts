import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { pickThreshold, ratesAt, scorePairs, loadPairs, THRESHOLDS } from "../../../bench/semantic-cache.ts"
import { DEFAULT_SEMANTIC_THRESHOLD, makeSemanticMatcher } from "../../../src/cache/semantic/semantic-matcher.ts"
import { makeSifEmbedder } from "../../../src/cache/semantic/sif-embedder.ts"

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runSync(e)

describe("the semantic matcher with the built-in embedder", () => {
  const embedder = makeSifEmbedder()
  const pairs = loadPairs()
  const scored = run(scorePairs(embedder, pairs))

  it("meets the acceptance on the labelled pairs at its default threshold: false hits <= 1%, paraphrase hits >= 60%", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(300)
    const rates = ratesAt(scored, DEFAULT_SEMANTIC_THRESHOLD)
    expect(rates.falseHitRate).toBeLessThanOrEqual(0.01)
    expect(rates.paraphraseHitRate).toBeGreaterThanOrEqual(0.6)
  })

  it("has the default threshold the bench picks", () => {
    expect(pickThreshold(THRESHOLDS.map((t) => ratesAt(scored, t)))?.threshold).toBe(DEFAULT_SEMANTIC_THRESHOLD)
  })

  it("needs the guard: without it the same threshold serves many wrong answers", () => {
    expect(ratesAt(scored, DEFAULT_SEMANTIC_THRESHOLD, false).falseHitRate).toBeGreaterThan(0.5)
  })

  it("hits a stored paraphrase, in its own partition only, and passes over a candidate the guard turns down", () => {
    const matcher = makeSemanticMatcher(embedder)
    run(matcher.store("team-a", "r1", "How do I reverse a string in Python?"))
    const found = run(matcher.lookup("team-a", "What's the way to reverse a string in Python?"))
    expect(found.hit?.id).toBe("r1")
    expect(run(matcher.lookup("team-b", "What's the way to reverse a string in Python?")).hit).toBeUndefined()
    // The Python entry is near in meaning but names another language: turned down, then the Ruby one hits.
    const ruby = run(matcher.lookup("team-a", "What's the way to reverse a string in Ruby?"))
    expect(ruby.hit).toBeUndefined()
    expect(ruby.rejected).toEqual([expect.objectContaining({ id: "r1", reason: "entity" })])
    run(matcher.store("team-a", "r2", "How do I reverse a string in Ruby?", ruby.vector))
    expect(run(matcher.lookup("team-a", "What's the way to reverse a string in Ruby?")).hit?.id).toBe("r2")
    expect(run(matcher.lookup("team-a", "How do I reverse a string in Go?")).hit).toBeUndefined()
    expect(matcher.remove("r1")).toBe(true)
    expect(run(matcher.lookup("team-a", "What's the way to reverse a string in Python?")).hit).toBeUndefined()
    expect(matcher.clearPrefix("team-")).toBe(1)
    expect(matcher.index()?.size).toBe(0)
  })
})
