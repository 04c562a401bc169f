import { byteSetOf, type ByteSet } from "./byte-set.ts"
import { normalizeRanges, type CodePointRange } from "./utf8.ts"

/**
 * The grammar language every front end (JSON Schema, regex, GBNF, choices, tool calls) compiles to:
 * named rules whose bodies are regular expressions over bytes and code points, plus references to
 * other rules (which give the recursion JSON needs). `automaton` embeds a ready-made byte automaton,
 * for languages that are small as state machines and large as expressions (number ranges).
 */
export type Expr =
  | { readonly kind: "bytes"; readonly set: ByteSet }
  | { readonly kind: "chars"; readonly ranges: ReadonlyArray<CodePointRange> }
  | { readonly kind: "seq"; readonly items: ReadonlyArray<Expr> }
  | { readonly kind: "alt"; readonly items: ReadonlyArray<Expr> }
  | { readonly kind: "repeat"; readonly item: Expr; readonly min: number; readonly max: number }
  | { readonly kind: "ref"; readonly rule: string }
  | { readonly kind: "automaton"; readonly automaton: ByteAutomaton }

/** A byte automaton: states 0..numStates-1, `start`, accepting states, and byte-class edges. */
export interface ByteAutomaton {
  readonly numStates: number
  readonly start: number
  readonly accepting: ReadonlyArray<number>
  readonly edges: ReadonlyArray<readonly [from: number, set: ByteSet, to: number]>
}

/** A grammar as rules by name; `root` is where matching starts. */
export interface GrammarSpec {
  readonly root: string
  readonly rules: ReadonlyMap<string, Expr>
}

export const EMPTY: Expr = { kind: "seq", items: [] }

export const bytes = (set: ByteSet): Expr => ({ kind: "bytes", set })

export const chars = (ranges: ReadonlyArray<CodePointRange>): Expr => ({ kind: "chars", ranges: normalizeRanges(ranges) })

/** The UTF-8 bytes of `text`, in order. */
export const lit = (text: string): Expr => {
  const encoded = new TextEncoder().encode(text)
  return encoded.length === 1 ? bytes(byteSetOf(encoded[0])) : { kind: "seq", items: Array.from(encoded, (b) => bytes(byteSetOf(b))) }
}

export const seq = (...items: ReadonlyArray<Expr>): Expr => {
  const flat = items.flatMap((e) => (e.kind === "seq" ? e.items : [e]))
  return flat.length === 1 ? flat[0] : { kind: "seq", items: flat }
}

export const alt = (...items: ReadonlyArray<Expr>): Expr => {
  const flat = items.flatMap((e) => (e.kind === "alt" ? e.items : [e]))
  return flat.length === 1 ? flat[0] : { kind: "alt", items: flat }
}

export const repeat = (item: Expr, min: number, max: number): Expr => ({ kind: "repeat", item, min, max })
export const opt = (item: Expr): Expr => repeat(item, 0, 1)
export const star = (item: Expr): Expr => repeat(item, 0, Infinity)
export const plus = (item: Expr): Expr => repeat(item, 1, Infinity)
export const ref = (rule: string): Expr => ({ kind: "ref", rule })

/** Items separated by `separator`, between min and max of them. */
export const separated = (item: Expr, separator: Expr, min: number, max: number): Expr => {
  if (max === 0) return EMPTY
  const rest = repeat(seq(separator, item), Math.max(0, min - 1), max - 1)
  const some = seq(item, rest)
  return min === 0 ? opt(some) : some
}

/** Ranges of single characters, for regex-like classes. */
export const charRange = (lo: string, hi: string = lo): CodePointRange => [lo.codePointAt(0)!, hi.codePointAt(0)!]
