import { alt, chars, EMPTY, repeat, seq, type Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { complementRanges, MAX_CODE_POINT, normalizeRanges, type CodePointRange } from "./utf8.ts"

/**
 * A practical subset of ECMAScript regular expressions, parsed to a small tree and lowered to grammar
 * expressions: literals and escapes (\d \w \s and negations, \n \t \xHH \uHHHH \u{...}), classes with
 * ranges and negation, `.`, groups (capturing, non-capturing, named), alternation, the quantifiers
 * * + ? {n} {n,} {n,m} (lazy forms match the same language), and ^ $ at the ends of the pattern's
 * top-level alternatives. Lookaround, backreferences, word boundaries and Unicode property classes are
 * refused with an error naming them (they are not regular, or not worth their size here).
 */
type Node =
  | { readonly t: "set"; readonly ranges: ReadonlyArray<CodePointRange> }
  | { readonly t: "seq"; readonly items: ReadonlyArray<Node> }
  | { readonly t: "alt"; readonly items: ReadonlyArray<Node> }
  | { readonly t: "rep"; readonly item: Node; readonly min: number; readonly max: number }
  | { readonly t: "start" }
  | { readonly t: "end" }

const r = (lo: string, hi = lo): CodePointRange => [lo.codePointAt(0)!, hi.codePointAt(0)!]
const DIGIT: ReadonlyArray<CodePointRange> = [r("0", "9")]
const WORD: ReadonlyArray<CodePointRange> = [r("0", "9"), r("A", "Z"), r("_"), r("a", "z")]
// ECMAScript's WhiteSpace and LineTerminator.
const SPACE: ReadonlyArray<CodePointRange> = [[9, 13], [32, 32], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]]
const LINE_TERMINATORS: ReadonlyArray<CodePointRange> = [[10, 10], [13, 13], [0x2028, 0x2029]]
/** Every code point: what [\s\S] and an unanchored pattern's surroundings match. */
export const ANY_CHAR: ReadonlyArray<CodePointRange> = [[0, MAX_CODE_POINT]]

class RegexParser {
  private pos = 0
  private readonly source: string

  constructor(source: string) {
    this.source = source
  }

  parse(): Node {
    const node = this.alternation()
    if (this.pos < this.source.length) this.fail(`unmatched '${this.source[this.pos]}'`)
    return node
  }

  private fail(message: string): never {
    throw new GrammarError(`${message} at position ${this.pos} of the pattern`)
  }

  private peek(): string | undefined {
    return this.source[this.pos]
  }

  private alternation(): Node {
    const items = [this.sequence()]
    while (this.peek() === "|") {
      this.pos++
      items.push(this.sequence())
    }
    return items.length === 1 ? items[0] : { t: "alt", items }
  }

  private sequence(): Node {
    const items: Array<Node> = []
    while (this.pos < this.source.length && this.peek() !== "|" && this.peek() !== ")") items.push(this.quantified(this.atom()))
    return items.length === 1 ? items[0] : { t: "seq", items }
  }

  private quantified(atom: Node): Node {
    let node = atom
    for (;;) {
      const c = this.peek()
      let min: number, max: number
      if (c === "*") [min, max] = [0, Infinity]
      else if (c === "+") [min, max] = [1, Infinity]
      else if (c === "?") [min, max] = [0, 1]
      else if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.pos))
        if (m === null) return node // a literal '{', as ECMAScript allows outside unicode mode
        min = Number(m[1])
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3])
        if (max < min) this.fail("a quantifier's maximum is below its minimum")
        this.pos += m[0].length - 1
      } else return node
      if (node.t === "start" || node.t === "end") this.fail("nothing to repeat")
      this.pos++
      if (this.peek() === "?") this.pos++ // lazy: same language
      node = { t: "rep", item: node, min, max }
    }
  }

  private atom(): Node {
    const c = this.peek()!
    switch (c) {
      case "(": {
        this.pos++
        if (this.source.startsWith("?:", this.pos)) this.pos += 2
        else if (/^\?<[A-Za-z_$][\w$]*>/.test(this.source.slice(this.pos))) this.pos = this.source.indexOf(">", this.pos) + 1
        else if (this.peek() === "?") this.fail("lookahead and lookbehind are not supported")
        const inner = this.alternation()
        if (this.peek() !== ")") this.fail("missing ')'")
        this.pos++
        return inner
      }
      case "[":
        return this.characterClass()
      case ".":
        this.pos++
        return { t: "set", ranges: complementRanges(LINE_TERMINATORS) }
      case "^":
        this.pos++
        return { t: "start" }
      case "$":
        this.pos++
        return { t: "end" }
      case "\\":
        return this.escape(false)
      case ")":
      case "*":
      case "+":
      case "?":
        return this.fail(`unexpected '${c}'`)
      default: {
        const cp = this.source.codePointAt(this.pos)!
        this.pos += cp > 0xffff ? 2 : 1
        return { t: "set", ranges: [[cp, cp]] }
      }
    }
  }

  /** An escape after '\\'; inside a class, \b is a backspace. */
  private escape(inClass: boolean): Node {
    this.pos++
    const c = this.peek()
    if (c === undefined) this.fail("the pattern ends with '\\'")
    this.pos++
    const set = (ranges: ReadonlyArray<CodePointRange>): Node => ({ t: "set", ranges })
    const one = (cp: number): Node => set([[cp, cp]])
    switch (c) {
      case "d": return set(DIGIT)
      case "D": return set(complementRanges(DIGIT))
      case "w": return set(WORD)
      case "W": return set(complementRanges(WORD))
      case "s": return set(SPACE)
      case "S": return set(complementRanges(SPACE))
      case "n": return one(10)
      case "r": return one(13)
      case "t": return one(9)
      case "f": return one(12)
      case "v": return one(11)
      case "0": return one(0)
      case "b":
        if (inClass) return one(8)
        return this.fail("word boundaries (\\b) are not supported")
      case "B": return this.fail("word boundaries (\\B) are not supported")
      case "x": return one(this.hex(2))
      case "u":
        if (this.peek() === "{") {
          const end = this.source.indexOf("}", this.pos)
          const cp = end < 0 ? NaN : parseInt(this.source.slice(this.pos + 1, end), 16)
          if (!(cp >= 0 && cp <= MAX_CODE_POINT)) this.fail("invalid \\u{...} escape")
          this.pos = end + 1
          return one(cp)
        }
        return one(this.hex(4))
      case "c": {
        const letter = this.peek()
        if (letter === undefined || !/[A-Za-z]/.test(letter)) this.fail("invalid \\c escape")
        this.pos++
        return one(letter.charCodeAt(0) % 32)
      }
      case "p":
      case "P":
        return this.fail("Unicode property classes (\\p{...}) are not supported")
      case "k":
        return this.fail("backreferences are not supported")
      default:
        if (/[1-9]/.test(c)) return this.fail("backreferences are not supported")
        return one(c.codePointAt(0)!)
    }
  }

  private hex(digits: number): number {
    const text = this.source.slice(this.pos, this.pos + digits)
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(text)) this.fail(`invalid escape: expected ${digits} hex digits`)
    this.pos += digits
    return parseInt(text, 16)
  }

  private characterClass(): Node {
    this.pos++
    const negated = this.peek() === "^"
    if (negated) this.pos++
    const ranges: Array<CodePointRange> = []
    while (this.peek() !== "]") {
      if (this.pos >= this.source.length) this.fail("missing ']'")
      const lo = this.classAtom()
      if (this.peek() === "-" && this.source[this.pos + 1] !== "]" && this.pos + 1 < this.source.length) {
        this.pos++
        const hi = this.classAtom()
        if (lo.length !== 1 || hi.length !== 1 || lo[0][0] !== lo[0][1] || hi[0][0] !== hi[0][1]) this.fail("a class range needs single characters at both ends")
        if (hi[0][0] < lo[0][0]) this.fail("a class range is out of order")
        ranges.push([lo[0][0], hi[0][0]])
      } else ranges.push(...lo)
    }
    this.pos++
    return { t: "set", ranges: negated ? complementRanges(ranges) : normalizeRanges(ranges) }
  }

  private classAtom(): ReadonlyArray<CodePointRange> {
    if (this.peek() === "\\") {
      const node = this.escape(true)
      return node.t === "set" ? node.ranges : this.fail("unexpected escape in a class")
    }
    const cp = this.source.codePointAt(this.pos)!
    this.pos += cp > 0xffff ? 2 : 1
    return [[cp, cp]]
  }
}

/** How a set of characters is written in the output: as UTF-8 text, or inside a JSON string. */
export type CharEncoder = (ranges: ReadonlyArray<CodePointRange>) => Expr

export const utf8Text: CharEncoder = (ranges) => chars(ranges)

const lower = (node: Node, encode: CharEncoder): Expr => {
  switch (node.t) {
    case "set":
      return encode(node.ranges)
    case "seq":
      return seq(...node.items.map((n) => lower(n, encode)))
    case "alt":
      return alt(...node.items.map((n) => lower(n, encode)))
    case "rep":
      return repeat(lower(node.item, encode), node.min, node.max)
    case "start":
    case "end":
      throw new GrammarError("^ and $ are supported only at the start and end of the pattern")
  }
}

/**
 * A pattern as a grammar expression. `fullMatch` (vLLM's guided_regex): the output is exactly a match,
 * and ^/$ at the ends change nothing. Otherwise (JSON Schema `pattern`) the pattern is searched for: each
 * top-level alternative without ^ may be preceded by anything, without $ followed by anything.
 */
export const compileRegex = (pattern: string, encode: CharEncoder, fullMatch: boolean): Expr => {
  const tree = new RegexParser(pattern).parse()
  const alternatives = tree.t === "alt" ? tree.items : [tree]
  const anything = repeat(encode(ANY_CHAR), 0, Infinity)
  return alt(...alternatives.map((a) => {
    let items = a.t === "seq" ? [...a.items] : [a]
    const anchoredStart = items[0]?.t === "start"
    const anchoredEnd = items[items.length - 1]?.t === "end"
    items = items.slice(anchoredStart ? 1 : 0, anchoredEnd ? -1 : undefined)
    const body = items.length === 0 ? EMPTY : lower(items.length === 1 ? items[0] : { t: "seq", items }, encode)
    if (fullMatch) return body
    return seq(anchoredStart ? EMPTY : anything, body, anchoredEnd ? EMPTY : anything)
  }))
}
