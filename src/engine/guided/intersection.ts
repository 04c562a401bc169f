import { byteSetOf, type ByteSet } from "./byte-set.ts"
import type { ByteAutomaton, Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { compileRule, MAX_DFA_STATES, type RuleDfa } from "./rule-automaton.ts"

const noRefs = (name: string): number => {
  throw new GrammarError(`rule references (${name}) cannot be intersected`)
}

/**
 * The strings every expression matches (regular expressions only: no rule references), as one byte
 * automaton: the product of their DFAs. How a JSON Schema string gets `pattern`, `format` and the
 * lengths at once. Null when nothing matches them all.
 */
export const intersect = (exprs: ReadonlyArray<Expr>): ByteAutomaton | null => {
  const dfas: Array<RuleDfa> = exprs.map((e, i) => compileRule(`intersection${i}`, e, noRefs))
  const ids = new Map<string, number>()
  const tuples: Array<Array<number>> = []
  const idOf = (tuple: Array<number>): number => {
    const key = tuple.join(",")
    let id = ids.get(key)
    if (id === undefined) {
      if (tuples.length >= MAX_DFA_STATES) throw new GrammarError("these string constraints together are too complex")
      ids.set(key, (id = tuples.length))
      tuples.push(tuple)
    }
    return id
  }
  idOf(dfas.map(() => 0))
  const edges: Array<readonly [number, ByteSet, number]> = []
  const accepting: Array<number> = []
  for (let s = 0; s < tuples.length; s++) {
    const tuple = tuples[s]
    if (tuple.every((q, i) => dfas[i].accepting[q] === 1)) accepting.push(s)
    const byTarget = new Map<number, Array<number>>()
    for (let b = 0; b < 256; b++) {
      const next: Array<number> = []
      for (let i = 0; i < dfas.length && next.length === i; i++) {
        const t = dfas[i].next[tuple[i] * 256 + b]
        if (t >= 0) next.push(t)
      }
      if (next.length !== dfas.length) continue
      const to = idOf(next)
      byTarget.set(to, [...(byTarget.get(to) ?? []), b])
    }
    for (const [to, bytes] of byTarget) edges.push([s, byteSetOf(...bytes), to])
  }
  if (accepting.length === 0) return null
  return { numStates: tuples.length, start: 0, accepting, edges }
}
