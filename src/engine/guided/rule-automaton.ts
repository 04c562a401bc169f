import { hasByte, type ByteSet } from "./byte-set.ts"
import type { Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { Nfa } from "./nfa.ts"

/** A call of another rule from a state: after the callee completes, matching resumes at `to`. */
export interface RefEdge {
  readonly rule: number
  readonly to: number
}

/**
 * One rule as a deterministic automaton over bytes and rule calls. State 0 is the start. `next` holds
 * the byte transitions (-1: none), so advancing a parser stack by a byte is one array read.
 */
export interface RuleDfa {
  readonly name: string
  readonly numStates: number
  readonly next: Int32Array
  readonly accepting: Uint8Array
  /** 1 where the state has at least one byte transition. */
  readonly hasBytes: Uint8Array
  readonly refs: ReadonlyArray<ReadonlyArray<RefEdge>>
}

/** Most DFA states one rule may determinize to. */
export const MAX_DFA_STATES = 60_000

/** Bytes grouped by which edge sets hold them: transitions need computing once per group. */
const byteClasses = (sets: ReadonlyArray<ByteSet>): Array<Array<number>> => {
  let classes: Array<Array<number>> = [Array.from({ length: 256 }, (_, b) => b)]
  const seen = new Set<string>()
  for (const set of sets) {
    const key = set.join(",")
    if (seen.has(key)) continue
    seen.add(key)
    const next: Array<Array<number>> = []
    for (const c of classes) {
      const inside = c.filter((b) => hasByte(set, b))
      const outside = c.filter((b) => !hasByte(set, b))
      if (inside.length > 0) next.push(inside)
      if (outside.length > 0) next.push(outside)
    }
    classes = next
  }
  return classes
}

/** Subset construction: the rule's NFA as a DFA over bytes and rule calls. */
const determinize = (name: string, nfa: Nfa, start: number, accept: number): RuleDfa => {
  const classes = byteClasses(nfa.byteEdges.flatMap((edges) => edges.map(([set]) => set)))
  const index = new Map<string, number>()
  const sets: Array<Array<number>> = []
  const stateOf = (set: Array<number>): number => {
    const key = set.join(",")
    let i = index.get(key)
    if (i === undefined) {
      if (sets.length >= MAX_DFA_STATES) throw new GrammarError(`the grammar is too complex (rule ${name} needs more than ${MAX_DFA_STATES} states)`)
      i = sets.length
      index.set(key, i)
      sets.push(set)
    }
    return i
  }
  stateOf(nfa.closure([start]))
  const nextRows: Array<Int32Array> = []
  const refs: Array<Array<RefEdge>> = []
  const accepting: Array<number> = []
  for (let d = 0; d < sets.length; d++) {
    const members = sets[d]
    accepting.push(members.includes(accept) ? 1 : 0)
    const row = new Int32Array(256).fill(-1)
    for (const cls of classes) {
      const b = cls[0]
      const targets: Array<number> = []
      for (const q of members) for (const [set, to] of nfa.byteEdges[q]) if (hasByte(set, b)) targets.push(to)
      if (targets.length === 0) continue
      const t = stateOf(nfa.closure(targets))
      for (const x of cls) row[x] = t
    }
    nextRows.push(row)
    const byRule = new Map<number, Array<number>>()
    for (const q of members) for (const [rule, to] of nfa.refEdges[q]) byRule.set(rule, [...(byRule.get(rule) ?? []), to])
    refs.push([...byRule].sort((a, b) => a[0] - b[0]).map(([rule, targets]) => ({ rule, to: stateOf(nfa.closure(targets)) })))
  }
  return assemble(name, nextRows, Uint8Array.from(accepting), refs)
}

export const assemble = (name: string, rows: ReadonlyArray<Int32Array>, accepting: Uint8Array, refs: ReadonlyArray<ReadonlyArray<RefEdge>>): RuleDfa => {
  const next = new Int32Array(rows.length * 256)
  const hasBytes = new Uint8Array(rows.length)
  rows.forEach((row, s) => {
    next.set(row, s * 256)
    hasBytes[s] = row.some((t) => t >= 0) ? 1 : 0
  })
  return { name, numStates: rows.length, next, accepting, hasBytes, refs }
}

/** Compiles one rule's expression to a DFA; `ruleIndex` resolves the names of called rules. */
export const compileRule = (name: string, body: Expr, ruleIndex: (name: string) => number): RuleDfa => {
  const nfa = new Nfa()
  const start = nfa.newState()
  const accept = nfa.build(body, start, ruleIndex)
  return determinize(name, nfa, start, accept)
}
