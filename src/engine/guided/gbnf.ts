import { alt, chars, EMPTY, lit, ref, repeat, seq, type Expr, type GrammarSpec } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { complementRanges, MAX_CODE_POINT, type CodePointRange } from "./utf8.ts"

/**
 * llama.cpp's GBNF (what vLLM's xgrammar backend takes as guided_grammar): `name ::= expression`
 * rules, the start rule `root`, "literals" and [character classes] (negated with ^, ranges, escapes
 * \n \r \t \\ \" \] \xHH \uHHHH \UHHHHHHHH), `.` for any character, rule names, ( groups ), | and the
 * quantifiers * + ? {m} {m,} {m,n}; # comments.
 */
class GbnfParser {
  private pos = 0
  private readonly text: string
  readonly rules = new Map<string, Expr>()

  constructor(text: string) {
    this.text = text
  }

  private fail(message: string): never {
    const line = this.text.slice(0, this.pos).split("\n").length
    throw new GrammarError(`${message} (line ${line})`)
  }

  private skipSpace(newlines: boolean): void {
    for (;;) {
      const c = this.text[this.pos]
      if (c === "#") while (this.pos < this.text.length && this.text[this.pos] !== "\n") this.pos++
      else if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) this.pos++
      else return
    }
  }

  private name(): string | null {
    const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos))
    if (m === null) return null
    this.pos += m[0].length
    return m[0]
  }

  parse(): GrammarSpec {
    this.skipSpace(true)
    while (this.pos < this.text.length) {
      const name = this.name()
      if (name === null) this.fail("expected a rule name")
      this.skipSpace(false)
      if (!this.text.startsWith("::=", this.pos)) this.fail(`expected '::=' after '${name}'`)
      this.pos += 3
      this.skipSpace(true)
      if (this.rules.has(name)) this.fail(`rule '${name}' is defined twice`)
      this.rules.set(name, this.alternatives())
      this.skipSpace(true)
    }
    if (!this.rules.has("root")) throw new GrammarError("the grammar has no 'root' rule (GBNF: root ::= ...)")
    return { root: "root", rules: this.rules }
  }

  /** Alternatives; a new line ends the rule unless the next line continues it (starts with |, or is inside a group). */
  private alternatives(inGroup = false): Expr {
    const items = [this.sequence(inGroup)]
    for (;;) {
      const save = this.pos
      this.skipSpace(true)
      if (this.text[this.pos] === "|") {
        this.pos++
        items.push(this.sequence(inGroup))
      } else {
        this.pos = save
        return items.length === 1 ? items[0] : alt(...items)
      }
    }
  }

  private sequence(inGroup: boolean): Expr {
    const items: Array<Expr> = []
    for (;;) {
      this.skipSpace(inGroup)
      const c = this.text[this.pos]
      if (c === undefined || c === "|" || c === ")" || c === "\n") break
      // A name followed by ::= starts the next rule.
      const save = this.pos
      const name = this.name()
      if (name !== null) {
        this.skipSpace(false)
        if (this.text.startsWith("::=", this.pos)) {
          this.pos = save
          break
        }
        this.pos = save
      }
      items.push(this.quantified(this.primary()))
    }
    return items.length === 0 ? EMPTY : seq(...items)
  }

  private quantified(e: Expr): Expr {
    for (;;) {
      const c = this.text[this.pos]
      if (c === "*") e = repeat(e, 0, Infinity)
      else if (c === "+") e = repeat(e, 1, Infinity)
      else if (c === "?") e = repeat(e, 0, 1)
      else if (c === "{") {
        const m = /^\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}/.exec(this.text.slice(this.pos))
        if (m === null) this.fail("invalid repetition {m,n}")
        const min = Number(m[1]), max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3])
        if (max < min) this.fail("a repetition's maximum is below its minimum")
        this.pos += m[0].length
        e = repeat(e, min, max)
        continue
      } else return e
      this.pos++
    }
  }

  private primary(): Expr {
    const c = this.text[this.pos]
    if (c === "\"") return this.literal()
    if (c === "[") return this.characterClass()
    if (c === ".") {
      this.pos++
      return chars([[0, MAX_CODE_POINT]])
    }
    if (c === "(") {
      this.pos++
      const inner = this.alternatives(true)
      this.skipSpace(true)
      if (this.text[this.pos] !== ")") this.fail("missing ')'")
      this.pos++
      return inner
    }
    const name = this.name()
    if (name !== null) return ref(name)
    return this.fail(`unexpected '${c}'`)
  }

  private escapedChar(): number {
    this.pos++ // the backslash
    const c = this.text[this.pos++]
    const hex = (n: number) => {
      const h = this.text.slice(this.pos, this.pos + n)
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) this.fail(`expected ${n} hex digits`)
      this.pos += n
      return parseInt(h, 16)
    }
    switch (c) {
      case "n": return 10
      case "r": return 13
      case "t": return 9
      case "x": return hex(2)
      case "u": return hex(4)
      case "U": return hex(8)
      case undefined: return this.fail("the grammar ends inside an escape")
      default: return c.codePointAt(0)!
    }
  }

  private nextChar(): number {
    if (this.text[this.pos] === "\\") return this.escapedChar()
    const cp = this.text.codePointAt(this.pos)!
    this.pos += cp > 0xffff ? 2 : 1
    return cp
  }

  private literal(): Expr {
    this.pos++
    let s = ""
    while (this.text[this.pos] !== "\"") {
      if (this.pos >= this.text.length) this.fail("unterminated string literal")
      s += String.fromCodePoint(this.nextChar())
    }
    this.pos++
    return lit(s)
  }

  private characterClass(): Expr {
    this.pos++
    const negated = this.text[this.pos] === "^"
    if (negated) this.pos++
    const ranges: Array<CodePointRange> = []
    while (this.text[this.pos] !== "]") {
      if (this.pos >= this.text.length) this.fail("unterminated character class")
      const lo = this.nextChar()
      if (this.text[this.pos] === "-" && this.text[this.pos + 1] !== "]") {
        this.pos++
        const hi = this.nextChar()
        if (hi < lo) this.fail("a class range is out of order")
        ranges.push([lo, hi])
      } else ranges.push([lo, lo])
    }
    this.pos++
    return chars(negated ? complementRanges(ranges) : ranges)
  }
}

export const parseGbnf = (text: string): GrammarSpec => new GbnfParser(text).parse()
