import { assemble, type RefEdge, type RuleDfa } from "./rule-automaton.ts"

/**
 * Keeps only the states reachable from the start that can still reach acceptance (`live` says which
 * called rules can complete), renumbered with the start at 0, and merges equivalent states (Hopcroft's
 * algorithm, below). Every state left is on some path to acceptance: a parser stack never waits in a
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
