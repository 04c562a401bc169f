import { describe, expect, it } from "vitest"
import { Rng } from "../../src/engine/sampler.ts"
import { defaultSamplingParams, type SamplingParams } from "../../src/engine/sampling-params.ts"
import { type StopDecision, StopChecker } from "../../src/engine/stop-checker.ts"

const EOS = 0
const checker = (overrides: Partial<SamplingParams> = {}, maxModelLen = 1000, promptLen = 10) =>
  new StopChecker(defaultSamplingParams({ maxTokens: 100, ...overrides }), [EOS], maxModelLen, promptLen)

/** Feeds (tokenId, text) pairs until the sequence finishes; returns every decision. */
const feed = (c: StopChecker, tokens: ReadonlyArray<readonly [number, string]>): Array<StopDecision> => {
  const out: Array<StopDecision> = []
  for (const [id, text] of tokens) {
    const d = c.onToken(id, text, out.length + 1)
    out.push(d)
    if (d.finishReason !== null) break
  }
  return out
}
const words = (...texts: Array<string>) => texts.map((t) => [7, t] as const)
const emitted = (ds: ReadonlyArray<StopDecision>) => ds.map((d) => d.emit)
const last = (ds: ReadonlyArray<StopDecision>) => ds[ds.length - 1]

describe("token stops", () => {
  it("eos finishes with reason stop, no stop_reason, and its text left out", () => {
    const ds = feed(checker(), [[7, "Hi"], [EOS, "</s>"], [7, "never"]])
    expect(emitted(ds)).toEqual(["Hi", ""])
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: null })
  })

  it("ignore_eos keeps going through eos", () => {
    const ds = feed(checker({ ignoreEos: true, maxTokens: 3 }), [[7, "a"], [EOS, ""], [7, "b"]])
    expect(emitted(ds)).toEqual(["a", "", "b"])
    expect(last(ds).finishReason).toBe("length")
  })

  it("a stop_token_id finishes with that id as stop_reason, its text left out", () => {
    const ds = feed(checker({ stopTokenIds: [42] }), [[7, "x"], [42, "\n"]])
    expect(emitted(ds)).toEqual(["x", ""])
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: 42 })
  })

  it("include_stop_str_in_output keeps the stop token's text", () => {
    const ds = feed(checker({ stopTokenIds: [42], includeStopStrInOutput: true }), [[7, "x"], [42, "\n"]])
    expect(emitted(ds)).toEqual(["x", "\n"])
  })

  it("min_tokens suppresses eos and stop_token_ids until more than min_tokens tokens exist", () => {
    const ds = feed(checker({ minTokens: 2, stopTokenIds: [42] }), [[EOS, ""], [42, "!"], [42, "?"]])
    expect(emitted(ds)).toEqual(["", "!", ""])
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: 42 })
  })

  it("a stop token that is also the last allowed token reports stop, not length", () => {
    const ds = feed(checker({ maxTokens: 2 }), [[7, "a"], [EOS, ""]])
    expect(last(ds).finishReason).toBe("stop")
  })
})

describe("length", () => {
  it("max_tokens finishes with reason length", () => {
    const ds = feed(checker({ maxTokens: 3 }), words("a", "b", "c", "d"))
    expect(emitted(ds)).toEqual(["a", "b", "c"])
    expect(last(ds)).toMatchObject({ finishReason: "length", stopReason: null })
  })

  it("the model's max length finishes with reason length", () => {
    const ds = feed(checker({}, 13, 10), words("a", "b", "c", "d"))
    expect(ds).toHaveLength(3)
    expect(last(ds).finishReason).toBe("length")
  })

  it("finishing on length releases text held back for a possible stop string", () => {
    const ds = feed(checker({ maxTokens: 2, stop: ["\n\n"] }), words("a", "\n"))
    expect(emitted(ds)).toEqual(["a", "\n"])
  })
})

describe("stop strings", () => {
  it("a stop string inside one token cuts the output before it", () => {
    const ds = feed(checker({ stop: ["END"] }), words("Hello ", "there END more"))
    expect(emitted(ds).join("")).toBe("Hello there ")
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: "END" })
  })

  it("matches across token boundaries without streaming any part of it (\"\\n\\n\" as \"\\n\" + \"\\n\")", () => {
    const ds = feed(checker({ stop: ["\n\n"] }), words("Para", "\n", "\n", "next"))
    expect(emitted(ds)).toEqual(["Para", "", ""])
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: "\n\n" })
  })

  it("releases held-back text as soon as the match fails", () => {
    const ds = feed(checker({ stop: ["abd"] }), words("xab", "c", "ab", "d"))
    expect(emitted(ds)).toEqual(["x", "abc", "", ""])
    expect(last(ds).stopReason).toBe("abd")
  })

  it("holds back only the tail that could still become a stop string", () => {
    const ds = feed(checker({ stop: ["STOP"] }), words("a S", "T", "x"))
    expect(emitted(ds)).toEqual(["a ", "", "STx"])
  })

  it("include_stop_str_in_output keeps the stop string and drops what follows it", () => {
    const ds = feed(checker({ stop: ["\n\n"], includeStopStrInOutput: true }), words("Para", "\n", "\nrest"))
    expect(emitted(ds)).toEqual(["Para", "\n", "\n"])
    expect(last(ds).stopReason).toBe("\n\n")
  })

  it("of several stop strings, the one starting first wins", () => {
    const ds = feed(checker({ stop: ["cd", "bcde"] }), words("a", "bcdef"))
    expect(emitted(ds).join("")).toBe("a")
    expect(last(ds).stopReason).toBe("bcde")
  })

  it("a stop string beats max_tokens on the same token", () => {
    const ds = feed(checker({ stop: ["!"], maxTokens: 2 }), words("hi", "!"))
    expect(last(ds)).toMatchObject({ finishReason: "stop", stopReason: "!" })
  })

  it("min_tokens: no stop string may end in the text of the first min_tokens tokens", () => {
    const ds = feed(checker({ stop: ["."], minTokens: 2 }), words("a.", "b.", "c.", "d"))
    expect(emitted(ds).join("")).toBe("a.b.c")
    expect(ds).toHaveLength(3)
  })

  it("flush releases the held-back tail when the sequence ends otherwise", () => {
    const c = checker({ stop: ["\n\n"] })
    expect(c.onToken(7, "x\n", 1).emit).toBe("x")
    expect(c.flush()).toBe("\n")
  })

  it("never streams text that is later cut, and stops exactly at the first completed stop string (fuzz)", () => {
    const rng = Rng.seeded(99)
    // About half the trials complete a stop string somewhere; the rest run out of text.
    const stops = ["ab\n", "\n\n", "bab", "bbb"]
    const alphabet = "abcdefg\n"
    let stopped = 0
    for (let trial = 0; trial < 300; trial++) {
      const pieces = Array.from({ length: 20 }, () => Array.from({ length: Math.floor(rng.nextFloat() * 4) }, () => alphabet[Math.floor(rng.nextFloat() * alphabet.length)]).join(""))
      const include = trial % 2 === 1
      const c = checker({ stop: stops, includeStopStrInOutput: include })
      const ds = feed(c, words(...pieces))
      // Reference: the first token after which some stop string is complete; cut at the earliest one.
      let text = "", expected: string | null = null
      for (const p of pieces) {
        text += p
        const hits = stops.map((s) => ({ s, at: text.indexOf(s) })).filter((h) => h.at >= 0).sort((x, y) => x.at - y.at)
        if (hits.length > 0) {
          expected = text.slice(0, include ? hits[0].at + hits[0].s.length : hits[0].at)
          break
        }
      }
      const out = emitted(ds).join("")
      stopped += expected === null ? 0 : 1
      if (expected === null) {
        expect(last(ds).finishReason).toBeNull()
        expect(out + c.flush()).toBe(text)
      } else {
        expect(out).toBe(expected)
        expect(last(ds).finishReason).toBe("stop")
      }
      // Whatever was streamed at any point is a prefix of the final text.
      let sofar = ""
      for (const d of ds) {
        sofar += d.emit
        expect((expected ?? text).startsWith(sofar)).toBe(true)
      }
    }
    expect(stopped).toBeGreaterThan(50)
    expect(stopped).toBeLessThan(250)
  })
})
