import { describe, expect, it } from "vitest"
import { parseGbnf } from "../../../src/engine/guided/gbnf.ts"
import { GrammarError } from "../../../src/engine/guided/grammar-error.ts"
import { Rng } from "../../../src/engine/sampler.ts"
import { accepts, compile, crossingVocab, randomWalk, textOf } from "./support.ts"

/** llama.cpp's grammars/json.gbnf, as shipped (whitespace-tolerant JSON). */
const LLAMA_CPP_JSON = String.raw`
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
`

describe("GBNF grammars", () => {
  it("llama.cpp's json.gbnf parses, writes JSON objects, and accepts/refuses as JSON does", () => {
    const g = compile(parseGbnf(LLAMA_CPP_JSON), crossingVocab)
    for (const [text, ok] of [["{}", true], ["{ \"a\": [1, 2.5e3, \"x\", null] }", true], ["{\"a\":}", false], ["[1]", false], ["{\"a\":01}", false]] as const) expect(accepts(g, text), text).toBe(ok)
    const rng = Rng.seeded(4)
    let complete = 0
    for (let i = 0; i < 40; i++) {
      const walk = randomWalk(g, rng, 400, 0.5)
      if (!walk.canEnd) continue
      complete++
      const text = textOf(crossingVocab, walk.ids)
      expect(() => JSON.parse(text), text).not.toThrow()
      expect(JSON.parse(text)).toBeTypeOf("object")
    }
    expect(complete).toBeGreaterThan(10)
  })

  it("rules may span lines inside groups, repeat with {m,n}, and use . and escapes", () => {
    const g = compile(parseGbnf(`root ::= greeting{1,2} "!"   # comment\ngreeting ::= (("hi" | "h\\u00e9")\n  " "? .)`), crossingVocab)
    for (const [text, ok] of [["hix!", true], ["hé y!", true], ["hi xhi y!", true], ["hi!", false], ["hixhiyhiz!", false]] as const) expect(accepts(g, text), text).toBe(ok)
  })

  it("errors say what is wrong and where", () => {
    for (const [text, words] of [["rooot ::= \"a\"", "no 'root' rule"], ["root ::= a", "'a' is referenced but not defined"], ["root ::= root \"a\" | \"b\"", "left-recursive"], ["root ::= \"ab", "unterminated"], ["root ::= [a-", "unterminated character class"], ["root ::= (\"a\"", "missing ')'"], ["root ::= \"a\"\nroot ::= \"b\"", "defined twice"]] as const) {
      expect(() => compile(parseGbnf(text), crossingVocab), text).toThrow(GrammarError)
      expect(() => compile(parseGbnf(text), crossingVocab), text).toThrow(words)
    }
  })
})
