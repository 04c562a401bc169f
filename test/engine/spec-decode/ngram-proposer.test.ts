import { describe, expect, it } from "vitest"
import { proposeNgram, validateNgramConfig, type NgramConfig } from "../../../src/engine/spec-decode/ngram-proposer.ts"

const cfg = (k: number, min: number, max: number): NgramConfig => ({ numSpeculativeTokens: k, promptLookupMin: min, promptLookupMax: max })
const propose = (tokens: Array<number>, c: NgramConfig, maxDraft?: number) => proposeNgram((i) => tokens[i], tokens.length, c, maxDraft)

describe("n-gram prompt lookup", () => {
  it("proposes the K tokens that followed an earlier occurrence of the suffix", () => {
    // suffix [2,3] occurred at 1..2, followed by 4 5 6
    expect(propose([1, 2, 3, 4, 5, 6, 9, 2, 3], cfg(3, 1, 3))).toEqual([4, 5, 6])
    expect(propose([1, 2, 3, 4, 5, 6, 9, 2, 3], cfg(2, 1, 3))).toEqual([4, 5])
  })

  it("matches the longest suffix within [min, max] that recurs", () => {
    // [2, 3] occurs at 3..4 (followed by 8); [5, 2, 3] nowhere before the suffix
    const t = [3, 7, 1, 2, 3, 8, 5, 2, 3]
    expect(propose(t, cfg(1, 1, 3))).toEqual([8])
    expect(propose(t, cfg(1, 2, 2))).toEqual([8])
    expect(propose(t, cfg(1, 3, 3))).toEqual([])
    // [3] alone occurs at 0 (followed by 7) and at 4, preceded by 2 as the suffix is: that one.
    expect(propose(t, cfg(1, 1, 1))).toEqual([8])
  })

  it("takes the occurrence whose preceding tokens agree longest with the sequence's, the earliest among equals", () => {
    expect(propose([5, 1, 5, 2, 5], cfg(1, 1, 1))).toEqual([1])
    // [4, 5] at 0 (nothing before it) and at 5 (preceded by 8, as the suffix is): the copy is at 5.
    expect(propose([4, 5, 1, 2, 8, 4, 5, 3, 3, 8, 4, 5], cfg(3, 2, 2))).toEqual([3, 3, 8])
    // Both preceded by 8; the one at 6 also by 7, as the suffix is.
    expect(propose([8, 4, 5, 1, 2, 7, 8, 4, 5, 3, 6, 7, 8, 4, 5], cfg(2, 2, 2))).toEqual([3, 6])
    // ... unless it has fewer tokens after it than can be proposed: [7, 7] at 0 is followed by 3 tokens, at 1 by 2.
    expect(propose([7, 7, 7, 7], cfg(3, 2, 2))).toEqual([7, 7])
    expect(propose([5, 7, 7, 9, 9, 5, 7, 7], cfg(3, 2, 2))).toEqual([9, 9, 5])
  })

  it("proposes nothing when no suffix of length >= min recurs", () => {
    expect(propose([1, 2, 3, 4], cfg(3, 1, 3))).toEqual([])
    // [9,3] recurs only as a 1-gram ([3]); min 2 refuses it
    expect(propose([3, 4, 9, 3], cfg(3, 2, 3))).toEqual([])
  })

  it("stops at the end of the sequence and honours the caller's cap", () => {
    // a match right before the suffix: only the tokens up to the end exist
    expect(propose([7, 7, 7], cfg(5, 1, 1))).toEqual([7, 7])
    expect(propose([1, 2, 3, 4, 1, 2], cfg(4, 2, 2))).toEqual([3, 4, 1, 2])
    expect(propose([1, 2, 3, 4, 1, 2], cfg(4, 2, 2), 1)).toEqual([3])
    expect(propose([1, 2, 3, 4, 1, 2], cfg(4, 2, 2), 0)).toEqual([])
    expect(propose([1], cfg(4, 1, 2))).toEqual([])
  })

  it("refuses a configuration vLLM refuses", () => {
    expect(() => validateNgramConfig(cfg(0, 1, 3))).toThrow(/num_speculative_tokens/)
    expect(() => validateNgramConfig(cfg(3, 0, 3))).toThrow(/prompt_lookup_min/)
    expect(() => validateNgramConfig(cfg(3, 4, 3))).toThrow(/prompt_lookup_max/)
    expect(() => validateNgramConfig(cfg(3, 1, 3))).not.toThrow()
  })
})
