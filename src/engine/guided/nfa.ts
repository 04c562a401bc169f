import type { ByteSet } from "./byte-set.ts"
import type { Expr } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { utf8Sequences } from "./utf8.ts"

/** Most NFA states one rule may expand to (large repetition counts grow linearly). */
const MAX_NFA_STATES = 400_000
/** A Thompson NFA with epsilon edges, built from an expression. */
export class Nfa {
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
