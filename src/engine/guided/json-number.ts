import { byteSetOf, type ByteSet } from "./byte-set.ts"
import { alt, lit, seq, type ByteAutomaton, type Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"

/** A bound of a number range; `inclusive` false for exclusiveMinimum / exclusiveMaximum. */
export interface Bound {
  readonly value: number
  readonly inclusive: boolean
}

/**
 * Generation stays bounded: at most this many integer digits (more when a bound needs them) and
 * fraction digits. No exponent is ever written. Every number so written is exact in a float64 up to
 * the fraction's rounding, and the bounds are honoured on the decimal text, which is sound because
 * rounding to a float64 is monotonic.
 */
export const MAX_INTEGER_DIGITS = 15
export const MAX_FRACTION_DIGITS = 9

/** A non-negative decimal as digit strings: integer part without leading zeros ("0" for zero), fraction without trailing zeros. */
interface Decimal {
  readonly int: string
  readonly frac: string
}

const decimalOf = (x: number): Decimal => {
  let text = String(x)
  if (text.includes("e")) text = x >= 1 ? BigInt(x).toString() : x.toFixed(100)
  const [int, frac = ""] = text.split(".")
  return { int: int.replace(/^0+(?=\d)/, ""), frac: frac.replace(/0+$/, "") }
}

/** Comparison so far of the number being written with a bound: below, equal (so far), above. */
const LT = 0, EQ = 1, GT = 2
type Cmp = 0 | 1 | 2

interface DecimalBound extends Decimal {
  readonly inclusive: boolean
}

const digitSet = (digits: ReadonlyArray<number>): ByteSet => byteSetOf(...digits.map((d) => 48 + d))

/**
 * Non-negative decimals y with lower ≤ y (or <) and y ≤ upper (or <), as a byte automaton whose states
 * track how the digits written so far compare with each bound. The integer part is enumerated by digit
 * count (comparison of equal-length digit strings is lexicographic); the fraction states are shared by
 * all counts. Null when no such number exists within the digit limits.
 */
const unsignedRange = (lower: DecimalBound | null, upper: DecimalBound | null, integer: boolean): ByteAutomaton | null => {
  const ids = new Map<string, number>()
  const accepting: Array<number> = []
  const edges: Array<readonly [number, ByteSet, number]> = []
  const state = (key: string, accepts: boolean): number => {
    let id = ids.get(key)
    if (id === undefined) {
      ids.set(key, (id = ids.size))
      if (accepts) accepting.push(id)
    }
    return id
  }
  const digitAt = (s: string, i: number) => (i < s.length ? s.charCodeAt(i) - 48 : 0)
  const step = (c: Cmp, d: number, boundDigit: number): Cmp => (c !== EQ ? c : d < boundDigit ? LT : d > boundDigit ? GT : EQ)
  // Whether the number may end here, with `p` fraction digits written.
  const canEnd = (cl: Cmp, ch: Cmp, p: number): boolean => {
    const lowOk = lower === null || cl === GT || (cl === EQ && p >= lower.frac.length && lower.inclusive)
    const highOk = upper === null || ch === LT || (ch === EQ && (p < upper.frac.length || upper.inclusive))
    return lowOk && highOk
  }
  // Edges from `from` for every digit, grouped by the comparisons they lead to.
  const digitEdges = (from: number, digits: ReadonlyArray<number>, cl: Cmp, ch: Cmp, lowDigit: number, highDigit: number, target: (cl: Cmp, ch: Cmp) => number | null) => {
    const groups = new Map<number, Array<number>>()
    for (const d of digits) {
      const nl = lower === null ? GT : step(cl, d, lowDigit)
      const nh = upper === null ? LT : step(ch, d, highDigit)
      if (nl === LT || nh === GT) continue
      const to = target(nl, nh)
      if (to !== null) groups.set(to, [...(groups.get(to) ?? []), d])
    }
    for (const [to, ds] of groups) edges.push([from, digitSet(ds), to])
  }
  const all = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  const start = state("start", false)
  const intEnd = (cl: Cmp, ch: Cmp) => state(`I${cl}${ch}`, canEnd(cl, ch, 0))
  const minDigits = lower === null ? 1 : lower.int.length
  const maxDigits = upper === null ? Math.max(MAX_INTEGER_DIGITS, minDigits) : Math.min(upper.int.length, Math.max(MAX_INTEGER_DIGITS, minDigits))
  for (let k = minDigits; k <= maxDigits; k++) {
    const cl0: Cmp = lower === null || k > lower.int.length ? GT : EQ
    const ch0: Cmp = upper === null || k < upper.int.length ? LT : EQ
    const walk = (from: number, pos: number, cl: Cmp, ch: Cmp) => {
      const digits = k > 1 && pos === 0 ? all.slice(1) : all
      digitEdges(from, digits, cl, ch, lower === null ? 0 : digitAt(lower.int, pos), upper === null ? 0 : digitAt(upper.int, pos), (nl, nh) => {
        if (pos === k - 1) return intEnd(nl, nh)
        const key = `D${k},${pos + 1},${nl}${nh}`
        const known = ids.has(key)
        const to = state(key, false)
        if (!known) walk(to, pos + 1, nl, nh)
        return to
      })
    }
    walk(start, 0, cl0, ch0)
  }
  if (!integer) {
    for (const cl of [EQ, GT] as const) for (const ch of [LT, EQ] as const) {
      const key = `I${cl}${ch}`
      if (!ids.has(key)) continue
      const point = state(`F0,${cl}${ch}`, false)
      edges.push([ids.get(key)!, byteSetOf(46), point])
      const walk = (from: number, p: number, cl: Cmp, ch: Cmp) => {
        if (p === MAX_FRACTION_DIGITS) return
        digitEdges(from, all, cl, ch, lower === null ? 0 : digitAt(lower.frac, p), upper === null ? 0 : digitAt(upper.frac, p), (nl, nh) => {
          const k2 = `F${p + 1},${nl}${nh}`
          const known = ids.has(k2)
          const to = state(k2, canEnd(nl, nh, p + 1))
          if (!known) walk(to, p + 1, nl, nh)
          return to
        })
      }
      walk(point, 0, cl, ch)
    }
  }
  const automaton: ByteAutomaton = { numStates: ids.size, start, accepting, edges }
  return acceptsSomething(automaton) ? automaton : null
}

const acceptsSomething = (a: ByteAutomaton): boolean => {
  const seen = new Set([a.start])
  const stack = [a.start]
  const accepting = new Set(a.accepting)
  while (stack.length > 0) {
    const s = stack.pop()!
    if (accepting.has(s)) return true
    for (const [from, , to] of a.edges) if (from === s && !seen.has(to)) {
      seen.add(to)
      stack.push(to)
    }
  }
  return false
}

/**
 * JSON numbers (integers when `integer`) within the bounds, written without exponent: an exact
 * grammar for integer ranges and for decimal ranges (within the digit limits above). Negative numbers
 * are "-" and a positive magnitude (never "-0").
 */
export const numberRange = (integer: boolean, min: Bound | null, max: Bound | null): Expr => {
  for (const b of [min, max]) if (b !== null && !Number.isFinite(b.value)) throw new GrammarError("number bounds must be finite")
  const parts: Array<Expr> = []
  const nonNegativePossible = max === null || max.value > 0 || (max.value === 0 && max.inclusive)
  if (nonNegativePossible) {
    const lower = min === null || min.value < 0 ? null : { ...decimalOf(min.value), inclusive: min.inclusive }
    const upper = max === null ? null : { ...decimalOf(max.value), inclusive: max.inclusive }
    const a = unsignedRange(lower, upper, integer)
    if (a !== null) parts.push({ kind: "automaton", automaton: a })
  }
  const negativePossible = min === null || min.value < 0
  if (negativePossible) {
    // x = -y > 0: y's lower bound is 0 (exclusive) or -max; its upper bound -min.
    const lower = max !== null && max.value < 0 ? { ...decimalOf(-max.value), inclusive: max.inclusive } : { int: "0", frac: "", inclusive: false }
    const upper = min === null ? null : { ...decimalOf(-min.value), inclusive: min.inclusive }
    const a = unsignedRange(lower, upper, integer)
    if (a !== null) parts.push(seq(lit("-"), { kind: "automaton", automaton: a }))
  }
  if (parts.length === 0) {
    throw new GrammarError(`no ${integer ? "integer" : "number"} satisfies these bounds${min === null ? "" : ` (minimum ${min.value}${min.inclusive ? "" : ", exclusive"})`}${max === null ? "" : ` (maximum ${max.value}${max.inclusive ? "" : ", exclusive"})`}`)
  }
  return alt(...parts)
}
