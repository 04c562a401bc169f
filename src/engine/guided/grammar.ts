import type { GrammarSpec } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { trimAndMinimize } from "./minimize.ts"
import { compileRule, type RuleDfa } from "./rule-automaton.ts"

/**
 * A compiled grammar: every rule reachable from the root as a trimmed, minimal DFA over bytes and rule
 * calls. Compilation guarantees what the matcher relies on: every rule can complete (so a parser stack
 * never waits where it cannot finish), and no rule calls itself before consuming a byte (left
 * recursion would make a parser stack grow without reading input).
 */
export class Grammar {
  readonly rules: ReadonlyArray<RuleDfa>
  readonly root: number

  private constructor(rules: ReadonlyArray<RuleDfa>) {
    this.rules = rules
    this.root = 0
  }

  static compile(spec: GrammarSpec): Grammar {
    const names: Array<string> = [spec.root]
    const index = new Map<string, number>([[spec.root, 0]])
    const ruleIndex = (name: string): number => {
      let i = index.get(name)
      if (i === undefined) {
        if (!spec.rules.has(name)) throw new GrammarError(`rule '${name}' is referenced but not defined`)
        i = names.length
        index.set(name, i)
        names.push(name)
      }
      return i
    }
    if (!spec.rules.has(spec.root)) throw new GrammarError(`the grammar has no rule '${spec.root}'`)
    // Rules are compiled as they are first referenced: unreachable ones are never compiled.
    const raw: Array<RuleDfa> = []
    for (let i = 0; i < names.length; i++) raw.push(compileRule(names[i], spec.rules.get(names[i])!, ruleIndex))
    const live = productiveRules(raw)
    if (!live[0]) throw new GrammarError(`the grammar matches nothing: rule '${spec.root}' can never complete`)
    const rules = raw.map((dfa, i) => (live[i] ? trimAndMinimize(dfa, (r) => live[r] === 1) : null))
    const compiled = rules.map((r, i) => r ?? emptyRule(names[i]))
    checkLeftRecursion(compiled)
    return new Grammar(compiled)
  }

  /** Total DFA states over all rules (a size measure for reports and limits). */
  get numStates(): number {
    return this.rules.reduce((n, r) => n + r.numStates, 0)
  }
}

/** A rule that can never complete: kept so indices stay put, never entered (no edge calls it after trimming). */
const emptyRule = (name: string): RuleDfa => ({ name, numStates: 0, next: new Int32Array(0), accepting: new Uint8Array(0), hasBytes: new Uint8Array(0), refs: [] })

/** Rules that can complete on some input: a fixpoint, since a rule may need others to complete first. */
const productiveRules = (rules: ReadonlyArray<RuleDfa>): Uint8Array => {
  const live = new Uint8Array(rules.length)
  let changed = true
  while (changed) {
    changed = false
    for (let i = 0; i < rules.length; i++) {
      if (live[i]) continue
      const r = rules[i]
      const seen = new Uint8Array(r.numStates)
      const stack = [0]
      seen[0] = 1
      while (stack.length > 0 && !live[i]) {
        const s = stack.pop()!
        if (r.accepting[s]) {
          live[i] = 1
          changed = true
        }
        const visit = (t: number) => {
          if (t >= 0 && !seen[t]) {
            seen[t] = 1
            stack.push(t)
          }
        }
        for (let b = 0; b < 256; b++) visit(r.next[s * 256 + b])
        for (const e of r.refs[s]) if (live[e.rule]) visit(e.to)
      }
    }
  }
  return live
}

/** States reachable from the start of rule `r` without consuming a byte (through nullable calls). */
const nullableReach = (r: RuleDfa, nullable: Uint8Array): Array<number> => {
  if (r.numStates === 0) return []
  const seen = new Set([0])
  const stack = [0]
  while (stack.length > 0) {
    const s = stack.pop()!
    for (const e of r.refs[s]) if (nullable[e.rule] && !seen.has(e.to)) {
      seen.add(e.to)
      stack.push(e.to)
    }
  }
  return [...seen]
}

const checkLeftRecursion = (rules: ReadonlyArray<RuleDfa>): void => {
  const nullable = new Uint8Array(rules.length)
  let changed = true
  while (changed) {
    changed = false
    for (let i = 0; i < rules.length; i++) {
      if (!nullable[i] && nullableReach(rules[i], nullable).some((s) => rules[i].accepting[s])) {
        nullable[i] = 1
        changed = true
      }
    }
  }
  const leftCalls = rules.map((r, i) => [...new Set(nullableReach(rules[i], nullable).flatMap((s) => r.refs[s].map((e) => e.rule)))])
  // Depth-first search for a cycle in "calls before consuming a byte".
  const state = new Uint8Array(rules.length) // 0 new, 1 on the path, 2 done
  const path: Array<number> = []
  const visit = (i: number): void => {
    state[i] = 1
    path.push(i)
    for (const j of leftCalls[i]) {
      if (state[j] === 1) {
        const cycle = [...path.slice(path.indexOf(j)), j].map((k) => rules[k].name)
        throw new GrammarError(`the grammar is left-recursive (${cycle.join(" -> ")}); rewrite it so each rule reads a character before calling itself`)
      }
      if (state[j] === 0) visit(j)
    }
    path.pop()
    state[i] = 2
  }
  for (let i = 0; i < rules.length; i++) if (state[i] === 0) visit(i)
}
