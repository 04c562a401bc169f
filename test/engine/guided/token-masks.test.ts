import { describe, expect, it } from "vitest"
import type { CompiledGrammar } from "../../../src/engine/guided/compiled-grammar.ts"
import { parseGbnf } from "../../../src/engine/guided/gbnf.ts"
import { specGrammar } from "../../../src/engine/guided/guided-spec.ts"
import { jsonSchemaGrammar } from "../../../src/engine/guided/json-schema.ts"
import type { MatchState } from "../../../src/engine/guided/parser-stacks.ts"
import { Rng } from "../../../src/engine/sampler.ts"
import { bit, bundledVocab, compile, crossingVocab, randomWalk, vocabOf } from "./support.ts"

/** The mask by definition: a token is allowed when reading its bytes from the state leaves some stack alive. */
const bruteForce = (g: CompiledGrammar, state: MatchState): Uint32Array => {
  const mask = new Uint32Array(g.vocab.words)
  for (let id = 0; id < g.vocab.size; id++) {
    const bytes = g.vocab.tokenBytes[id]
    if (bytes != null && bytes.length > 0 && g.stacks.advanceBytes(state, bytes) !== null) mask[id >>> 5] |= 1 << (id & 31)
  }
  return mask
}

const expectMasksExact = (g: CompiledGrammar, seed: number, walks: number) => {
  const rng = Rng.seeded(seed)
  let states = 0
  for (let w = 0; w < walks; w++) {
    for (const state of randomWalk(g, rng, 300, 0.03).states) {
      if (state.tops.length === 0) continue
      expect([...g.masks.allowed(state)]).toEqual([...bruteForce(g, state)])
      states++
    }
  }
  return states
}

const GRAMMARS = {
  "JSON Schema with nesting, unicode and escapes": specGrammar({
    kind: "json_schema",
    schema: {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 8 },
        tags: { type: "array", items: { enum: ["é", "日本", "a\"b"] }, maxItems: 3 },
        child: { anyOf: [{ $ref: "#" }, { type: "null" }] },
        n: { type: "number", minimum: -2.5, maximum: 40 }
      },
      required: ["name", "child"]
    }
  }),
  "Hermes tool calls (auto: text or calls)": specGrammar({
    kind: "tool_calls",
    mode: "auto",
    parallel: true,
    content: null,
    tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 6 } }, required: ["city"], additionalProperties: false } }, { name: "noop", parameters: null }]
  }),
  "GBNF with recursion across rules": parseGbnf(`
root ::= expr
expr ::= term (("+" | "-") term)*
term ::= num | "(" expr ")"
num ::= [0-9]+ | "π"
`)
}

describe("token masks", () => {
  for (const [name, spec] of Object.entries(GRAMMARS)) {
    it(`equal the brute-force mask in every state of random walks: ${name}`, () => {
      expect(expectMasksExact(compile(spec, crossingVocab), 5, 12)).toBeGreaterThan(100)
      expect(expectMasksExact(compile(spec, bundledVocab), 6, 4)).toBeGreaterThan(30)
    })
  }

  it("are exact for tokens spanning rule boundaries and holding parts of UTF-8 characters", () => {
    // é is C3 A9: tokens with only its first or second byte, and tokens crossing from a string into the next member.
    const vocab = vocabOf(["{", "}", "\"", "\":", "\",\"", "a", "b", "é", Uint8Array.of(0xc3), Uint8Array.of(0xa9), "\"a", "a\"", "a\"}", "\"}", ":", ",", "\"b\":\"", "x"])
    const g = compile(jsonSchemaGrammar({ type: "object", properties: { a: { type: "string", maxLength: 2 }, b: { type: "string" } }, required: ["a", "b"], additionalProperties: false }), vocab)
    expect(expectMasksExact(g, 9, 200)).toBeGreaterThan(500)
    const enc = new TextEncoder()
    const allowedAfter = (text: string | Uint8Array) => {
      const state = g.stacks.advanceBytes(g.initial, typeof text === "string" ? enc.encode(text) : text)!
      const mask = g.masks.allowed(state)
      return vocab.tokenBytes.flatMap((b, id) => (b !== null && bit(mask, id) ? [id] : []))
    }
    const id = (t: string | Uint8Array) => vocab.tokenBytes.findIndex((b) => b !== null && Buffer.from(b).equals(Buffer.from(typeof t === "string" ? enc.encode(t) : t)))
    // {"a":"a — one more character fits (maxLength 2); a" and "," (crossing into the next member) too; a"} not (b is required).
    const afterA = allowedAfter("{\"a\":\"a")
    for (const t of ["\"", "a", "b", "é", Uint8Array.of(0xc3), "a\"", "\",\""]) expect(afterA).toContain(id(t))
    for (const t of ["a\"}", "\"}", Uint8Array.of(0xa9)]) expect(afterA).not.toContain(id(t))
    // {"a":"\xC3 — inside é: only its second byte continues.
    expect(allowedAfter(Uint8Array.of(...enc.encode("{\"a\":\""), 0xc3))).toEqual([id(Uint8Array.of(0xa9))])
  })

  it("never allow special tokens, and are cached per state", () => {
    const g = compile(specGrammar({ kind: "json_object" }))
    const rng = Rng.seeded(2)
    const walk = randomWalk(g, rng, 100, 0.1)
    for (const state of walk.states) {
      if (state.tops.length === 0) continue
      const mask = g.masks.allowed(state)
      for (let id = 0; id < bundledVocab.size; id++) if (bundledVocab.tokenBytes[id] === null) expect(bit(mask, id)).toBe(false)
      expect(g.masks.allowed(state)).toBe(mask)
    }
  })
})
