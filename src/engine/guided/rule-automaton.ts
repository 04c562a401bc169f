import { hasByte, type ByteSet } from "./byte-set.ts"
import type { Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { utf8Sequences } from "./utf8.ts"

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

/** Most NFA states one rule may expand to (large repetition counts grow linearly). */
const MAX_NFA_STATES = 400_000
/** Most DFA states one rule may determinize to. */
export const MAX_DFA_STATES = 60_000

/** A Thompson NFA with epsilon edges, built from an expression. */
class Nfa {
  readonly eps: Array<Array<number>> = []
  readonly byteEdges: Array<Array<readonly [ByteSet, number]>> = []
  readonly refEdges: Array<Array<readonly [number, number]>> = []

  newState(): number {
    if (this.eps.length >= MAX_NFA_STATES) throw new GrammarError(`the grammar is too large (a rule expands to more than ${MAX_NFA_STATES} states); lower repetition counts or lengths`)
    this.eps.push([])
    this.byteEdges.push([])
    this.refEdges.push([])
    return this.eps.length - 1
  }

  /** Builds `e` from state `s` and returns its end state. Never adds an edge into `s`. */
  build(e: Expr, s: number, ruleIndex: (name: string) => number): number {
    switch (e.kind) {
      case "bytes": {
        const t = this.newState()
        this.byteEdges[s].push([e.set, t])
        return t
      }
      case "chars": {
        const t = this.newState()
        for (const [lo, hi] of e.ranges) {
          for (const sequence of utf8Sequences(lo, hi)) {
            let cur = s
            sequence.forEach((set, i) => {
              const to = i === sequence.length - 1 ? t : this.newState()
              this.byteEdges[cur].push([set, to])
              cur = to
            })
          }
        }
        return t
      }
      case "seq": {
        let cur = s
        for (const item of e.items) cur = this.build(item, cur, ruleIndex)
        return cur
      }
      case "alt": {
        const t = this.newState()
        for (const item of e.items) {
          const start = this.newState()
          this.eps[s].push(start)
          this.eps[this.build(item, start, ruleIndex)].push(t)
        }
        return t
      }
      case "repeat":
        return this.buildRepeat(e.item, e.min, e.max, s, ruleIndex)
      case "ref": {
        const t = this.newState()
        this.refEdges[s].push([ruleIndex(e.rule), t])
        return t
      }
      case "automaton": {
        const a = e.automaton
        const map = Array.from({ length: a.numStates }, () => this.newState())
        this.eps[s].push(map[a.start])
        for (const [from, set, to] of a.edges) this.byteEdges[map[from]].push([set, map[to]])
        const t = this.newState()
        for (const q of a.accepting) this.eps[map[q]].push(t)
        return t
      }
    }
  }

  private buildRepeat(item: Expr, min: number, max: number, s: number, ruleIndex: (name: string) => number): number {
    if (!(min >= 0 && max >= min)) throw new GrammarError(`invalid repetition {${min},${max}}`)
    let cur = s
    for (let i = 0; i < min; i++) cur = this.build(item, cur, ruleIndex)
    if (max === Infinity) {
      const loop = this.newState()
      this.eps[cur].push(loop)
      this.eps[this.build(item, loop, ruleIndex)].push(loop)
      return loop
    }
    const t = this.newState()
    for (let i = min; i < max; i++) {
      this.eps[cur].push(t)
      cur = this.build(item, cur, ruleIndex)
    }
    this.eps[cur].push(t)
    return t
  }

  private mark = new Int32Array(0)
  private stamp = 0

  /** The states reachable through epsilon edges, ascending (a DFA state's identity). */
  closure(states: Iterable<number>): Array<number> {
    if (this.mark.length < this.eps.length) this.mark = new Int32Array(this.eps.length * 2)
    const stamp = ++this.stamp
    const out: Array<number> = []
    const stack: Array<number> = []
    for (const q of states) if (this.mark[q] !== stamp) {
      this.mark[q] = stamp
      stack.push(q)
    }
    while (stack.length > 0) {
      const q = stack.pop()!
      out.push(q)
      for (const r of this.eps[q]) if (this.mark[r] !== stamp) {
        this.mark[r] = stamp
        stack.push(r)
      }
    }
    return out.sort((a, b) => a - b)
  }
}

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

const assemble = (name: string, rows: ReadonlyArray<Int32Array>, accepting: Uint8Array, refs: ReadonlyArray<ReadonlyArray<RefEdge>>): RuleDfa => {
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

/**
 * Keeps only the states reachable from the start that can still reach acceptance (`live` says which
 * called rules can complete), renumbered with the start at 0, and merges equivalent states (Moore's
 * partition refinement). Every state left is on some path to acceptance: a parser stack never waits in a
 * state it cannot leave, so any stack the matcher keeps can still finish.
 */
export const trimAndMinimize = (dfa: RuleDfa, live: (rule: number) => boolean): RuleDfa | null => {
  const n = dfa.numStates
  // Backwards: which states can reach acceptance.
  const preds: Array<Array<number>> = Array.from({ length: n }, () => [])
  for (let s = 0; s < n; s++) {
    for (let b = 0; b < 256; b++) {
      const t = dfa.next[s * 256 + b]
      if (t >= 0) preds[t].push(s)
    }
    for (const r of dfa.refs[s]) if (live(r.rule)) preds[r.to].push(s)
  }
  const useful = new Uint8Array(n)
  const stack: Array<number> = []
  for (let s = 0; s < n; s++) if (dfa.accepting[s]) {
    useful[s] = 1
    stack.push(s)
  }
  while (stack.length > 0) for (const p of preds[stack.pop()!]) if (!useful[p]) {
    useful[p] = 1
    stack.push(p)
  }
  if (!useful[0]) return null
  // Forwards from the start, through useful states only.
  const order: Array<number> = [0]
  const newIndex = new Int32Array(n).fill(-1)
  newIndex[0] = 0
  for (let i = 0; i < order.length; i++) {
    const s = order[i]
    const visit = (t: number) => {
      if (t >= 0 && useful[t] && newIndex[t] < 0) {
        newIndex[t] = order.length
        order.push(t)
      }
    }
    for (let b = 0; b < 256; b++) visit(dfa.next[s * 256 + b])
    for (const r of dfa.refs[s]) if (live(r.rule)) visit(r.to)
  }
  const rows = order.map((s) => {
    const row = new Int32Array(256)
    for (let b = 0; b < 256; b++) {
      const t = dfa.next[s * 256 + b]
      row[b] = t >= 0 ? newIndex[t] : -1
    }
    return row
  })
  const refs = order.map((s) => dfa.refs[s].filter((r) => live(r.rule) && newIndex[r.to] >= 0).map((r) => ({ rule: r.rule, to: newIndex[r.to] })))
  return minimize(dfa.name, rows, Uint8Array.from(order, (s) => dfa.accepting[s]), refs)
}

/**
 * Hopcroft's algorithm over the byte classes and the called rules as the alphabet (a missing transition
 * goes to an implicit dead state): the coarsest partition of states that agree on acceptance and on the
 * blocks their transitions reach. O(k·n·log n), where Moore's simpler refinement needs as many rounds as
 * the longest chain of states (long strings with maxLength make such chains).
 */
const minimize = (name: string, rows: ReadonlyArray<Int32Array>, accepting: Uint8Array, refs: ReadonlyArray<ReadonlyArray<RefEdge>>): RuleDfa => {
  const n = rows.length
  const sink = n
  // Letters: one byte per class of bytes with identical columns, then one per called rule.
  const columns = new Map<string, number>()
  for (let b = 0; b < 256; b++) {
    let key = ""
    for (let s = 0; s < n; s++) key += `${rows[s][b]},`
    if (!columns.has(key)) columns.set(key, b)
  }
  const letterBytes = [...columns.values()]
  const calledRules = [...new Set(refs.flatMap((rs) => rs.map((r) => r.rule)))]
  const numLetters = letterBytes.length + calledRules.length
  const delta = (s: number, a: number): number => {
    if (s === sink) return sink
    if (a < letterBytes.length) {
      const t = rows[s][letterBytes[a]]
      return t < 0 ? sink : t
    }
    const rule = calledRules[a - letterBytes.length]
    const e = refs[s].find((r) => r.rule === rule)
    return e === undefined ? sink : e.to
  }
  // Inverse transitions per letter.
  const inverse: Array<Array<Array<number>>> = Array.from({ length: numLetters }, () => Array.from({ length: n + 1 }, () => []))
  for (let a = 0; a < numLetters; a++) for (let s = 0; s <= n; s++) inverse[a][delta(s, a)].push(s)
  const blockOf = new Int32Array(n + 1)
  const members: Array<Array<number>> = [[], []]
  for (let s = 0; s <= n; s++) {
    const b = s < n && accepting[s] ? 1 : 0
    blockOf[s] = b
    members[b].push(s)
  }
  if (members[1].length === 0) members.pop()
  const pending: Array<number> = []
  const queued = new Set<number>()
  const enqueue = (block: number, a: number) => {
    const key = block * numLetters + a
    if (!queued.has(key)) {
      queued.add(key)
      pending.push(key)
    }
  }
  const smaller = members.length === 2 && members[1].length < members[0].length ? 1 : 0
  for (let a = 0; a < numLetters; a++) enqueue(smaller, a)
  const hits = new Map<number, Array<number>>()
  while (pending.length > 0) {
    const key = pending.pop()!
    queued.delete(key)
    const block = Math.floor(key / numLetters), a = key % numLetters
    hits.clear()
    for (const t of members[block]) for (const s of inverse[a][t]) {
      const y = blockOf[s]
      let list = hits.get(y)
      if (list === undefined) hits.set(y, (list = []))
      list.push(s)
    }
    for (const [y, inX] of hits) {
      if (inX.length === members[y].length) continue
      const z = members.length
      const moved = new Set(inX)
      members.push(inX)
      members[y] = members[y].filter((s) => !moved.has(s))
      for (const s of inX) blockOf[s] = z
      for (let c = 0; c < numLetters; c++) {
        if (queued.has(y * numLetters + c)) enqueue(z, c)
        else enqueue(members[z].length < members[y].length ? z : y, c)
      }
    }
  }
  const block = blockOf.subarray(0, n)
  // Renumber blocks in first-appearance order so the start stays 0.
  const blockIndex = new Map<number, number>()
  const representative: Array<number> = []
  for (let s = 0; s < n; s++) if (!blockIndex.has(block[s])) {
    blockIndex.set(block[s], representative.length)
    representative.push(s)
  }
  const merged = representative.map((s) => {
    const row = new Int32Array(256)
    for (let b = 0; b < 256; b++) row[b] = rows[s][b] < 0 ? -1 : blockIndex.get(block[rows[s][b]])!
    return row
  })
  return assemble(
    name,
    merged,
    Uint8Array.from(representative, (s) => accepting[s]),
    representative.map((s) => refs[s].map((r) => ({ rule: r.rule, to: blockIndex.get(block[r.to])! })))
  )
}
