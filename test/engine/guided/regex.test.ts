import { describe, expect, it } from "vitest"
import { GrammarError } from "../../../src/engine/guided/grammar-error.ts"
import { jsonStringChars } from "../../../src/engine/guided/json-text.ts"
import { compileRegex, utf8Text } from "../../../src/engine/guided/regex.ts"
import { STRING_FORMATS } from "../../../src/engine/guided/string-formats.ts"
import { Rng } from "../../../src/engine/sampler.ts"
import { accepts, bundledVocab, compile, randomWalk, textOf, vocabOf } from "./support.ts"

const regexGrammar = (pattern: string, vocab = bundledVocab) => compile({ root: "root", rules: new Map([["root", compileRegex(pattern, utf8Text, true)]]) }, vocab)

/** Random strings over an alphabet, short and long. */
const randomStrings = (rng: Rng, alphabet: ReadonlyArray<string>, count: number, maxLength = 12): Array<string> =>
  Array.from({ length: count }, () => {
    const n = Math.floor(rng.nextFloat() * (maxLength + 1))
    let s = ""
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng.nextFloat() * alphabet.length)]
    return s
  })

const PATTERNS: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["[a-c]+x?", ["a", "b", "c", "x", "d"]],
  ["(ab|é)+-?[0-9]{1,3}", ["a", "b", "é", "-", "1", "9", "0", "x"]],
  ["\\d{3}-\\d{4}", ["1", "0", "-", "a"]],
  ["(?:foo|bar|baz){2,3}", ["f", "o", "b", "a", "r", "z", "foo", "bar"]],
  ["[^aeiou\\s]{2,4}", ["a", "b", " ", "z", "\t", "日"]],
  ["\\w+@\\w+\\.(com|org)", ["a", "_", "@", ".", "com", "org", "x"]],
  ["(?<year>19|20)\\d\\d", ["1", "9", "2", "0", "5"]],
  ["a.c", ["a", "b", "c", "\n", "日", "🙂"]],
  ["[\\u0041-\\u0043]*\\x2e", ["A", "B", "C", "D", "."]],
  ["(a|b)*abb", ["a", "b"]],
  ["x{0}y{2}z{1,}", ["x", "y", "z"]],
  ["[🙂-🙃]+", ["🙂", "🙃", "🙁", "a"]],
  ["^(yes|no)$", ["yes", "no", "y", "e", "n", "s", "o"]]
]

describe("regular expressions (a practical subset of ECMAScript's)", () => {
  it("accept exactly what JavaScript's RegExp matches in full", () => {
    const rng = Rng.seeded(11)
    for (const [pattern, alphabet] of PATTERNS) {
      const re = new RegExp(`^(?:${pattern.replace(/^\^|\$$/g, "")})$`, "u")
      const check = (g: ReturnType<typeof regexGrammar>, s: string) => expect(accepts(g, s), `${pattern} on ${JSON.stringify(s)}`).toBe(re.test(s))
      const g = regexGrammar(pattern)
      for (const s of randomStrings(rng, alphabet, 400)) check(g, s)
      // Sentences the grammar writes over the alphabet, and every one-symbol edit of them: the boundary.
      const charGrammar = regexGrammar(pattern, vocabOf(alphabet))
      for (let i = 0; i < 40; i++) {
        const walk = randomWalk(charGrammar, rng, 60, 0.3)
        const symbols = walk.ids.map((id) => alphabet[id])
        const text = symbols.join("")
        if (walk.canEnd) expect(re.test(text), `${pattern} wrote ${JSON.stringify(text)}`).toBe(true)
        for (let at = 0; at <= symbols.length; at++) {
          for (const a of alphabet) {
            check(g, [...symbols.slice(0, at), a, ...symbols.slice(at)].join(""))
            if (at < symbols.length) check(g, [...symbols.slice(0, at), a, ...symbols.slice(at + 1)].join(""))
          }
          if (at < symbols.length) check(g, [...symbols.slice(0, at), ...symbols.slice(at + 1)].join(""))
        }
      }
      // Sentences written through the bundled model's tokens match too.
      for (let i = 0; i < 10; i++) {
        const walk = randomWalk(g, rng, 200, 0.2)
        if (walk.canEnd) expect(re.test(textOf(g.vocab, walk.ids)), `${pattern} wrote ${JSON.stringify(textOf(g.vocab, walk.ids))}`).toBe(true)
      }
    }
  })

  it("refuse what is not regular or not supported, with a message naming it", () => {
    for (const [pattern, words] of [["(a)\\1", "backreferences"], ["a(?=b)", "lookahead"], ["\\bword", "word boundaries"], ["\\p{L}", "Unicode property"], ["a{3,1}", "maximum is below"], ["(ab", "missing ')'"], ["a)", "unmatched"], ["a^b", "start and end"]] as const) {
      expect(() => regexGrammar(pattern), pattern).toThrow(GrammarError)
      expect(() => regexGrammar(pattern), pattern).toThrow(words)
    }
  })

  it("search semantics for JSON Schema patterns: unanchored alternatives may be surrounded by anything", () => {
    const g = compile({ root: "root", rules: new Map([["root", compileRegex("^ab|cd", jsonStringChars, false)]]) })
    for (const [s, ok] of [["ab", true], ["abzz", true], ["zab", false], ["zcdz", true], ["cd", true], ["c", false]] as const) expect(accepts(g, s), s).toBe(ok)
  })

  it("inside a JSON string a character that must be escaped is written by its one escape", () => {
    const g = compile({ root: "root", rules: new Map([["root", compileRegex("a[\"\\\\\\n]b", jsonStringChars, true)]]) })
    expect(accepts(g, "a\\\"b")).toBe(true)
    expect(accepts(g, "a\\\\b")).toBe(true)
    expect(accepts(g, "a\\nb")).toBe(true)
    expect(accepts(g, "a\"b")).toBe(false)
    expect(accepts(g, "a\nb")).toBe(false)
    expect(accepts(g, "a\\u000ab")).toBe(false)
  })

  it("string formats write only strings ajv-formats (full mode) accepts", async () => {
    const { fullFormats } = await import("ajv-formats/dist/formats.js")
    const vocab = vocabOf([..."0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-:.T+Z@/_~PWYMDHS"])
    const rng = Rng.seeded(3)
    for (const [name, source] of STRING_FORMATS) {
      const g = regexGrammar(source, vocab)
      const format = (fullFormats as Record<string, unknown>)[name] as RegExp | ((s: string) => boolean) | { validate: RegExp | ((s: string) => boolean) }
      const validate = typeof format === "function" ? format : format instanceof RegExp ? (s: string) => format.test(s) : typeof format.validate === "function" ? format.validate : (s: string) => (format.validate as RegExp).test(s)
      for (let i = 0; i < 150; i++) {
        const walk = randomWalk(g, rng, 400, 0.3)
        expect(walk.canEnd, name).toBe(true)
        const text = textOf(vocab, walk.ids)
        expect(validate(text), `${name}: ${text}`).toBe(true)
      }
    }
  })
})
