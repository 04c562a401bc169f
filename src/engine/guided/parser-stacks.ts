import type { Grammar } from "./grammar.ts"

/**
 * One frame of a parser stack: rule `rule` waiting in DFA state `state`, with `parent` the frame to
 * resume when the rule completes (already at its state after the call). Frames are persistent and
 * interned (one object per (rule, state, parent)), so a stack is identified by its top frame's id, equal
 * stacks are the same object, and keeping an old matcher state is free.
 */
export class Frame {
  readonly id: number
  readonly rule: number
  readonly state: number
  readonly parent: Frame | null
  /** Interned frames whose parent is this one, by rule and state. */
  children: Map<number, Frame> | undefined = undefined
  /** The closure of this frame (see ParserStacks.closure), once computed. */
  closure: MatchState | undefined = undefined

  constructor(id: number, rule: number, state: number, parent: Frame | null) {
    this.id = id
    this.rule = rule
    this.state = state
    this.parent = parent
  }
}

/**
 * A matcher state: the live parser stacks, each by its top frame, every top at a state with byte
 * transitions (rule calls and completions are already followed). Immutable: snapshots are references.
 */
export class MatchState {
  /** Top frames, ascending ids, no repeats. */
  readonly tops: ReadonlyArray<Frame>
  /** The root rule has completed on some stack: the input so far is a whole sentence (EOS may follow). */
  readonly canEnd: boolean
  /** (Analyses of one frame, see TokenMasks) the analysed frame's rule completed on the last byte. */
  readonly escaped: boolean
  private keyText: string | undefined = undefined

  constructor(tops: ReadonlyArray<Frame>, canEnd: boolean, escaped: boolean) {
    this.tops = tops
    this.canEnd = canEnd
    this.escaped = escaped
  }

  /** Identifies the set of stacks: equal keys allow the same tokens. */
  get key(): string {
    if (this.keyText === undefined) {
      let k = ""
      for (const f of this.tops) k += `${f.id},`
      this.keyText = k
    }
    return this.keyText
  }

  /** Nothing more can be read: the sentence is complete. */
  get isComplete(): boolean {
    return this.tops.length === 0 && this.canEnd
  }
}

/** Interned frames held per parent; beyond this many the table starts over (old stacks stay valid). */
const MAX_FRAMES = 500_000
const KEY_STRIDE = 1 << 17

/**
 * The parser stacks of one grammar: interning, closure (following rule calls and completions until
 * every stack waits for a byte) and advancing by a byte. Shared by every sequence using the grammar,
 * so the closure memo and interned frames serve them all.
 */
export class ParserStacks {
  readonly grammar: Grammar
  /** Parent of the frame a local analysis starts from: completing into it is an escape. */
  readonly bottom: Frame
  private roots = new Map<number, Frame>()
  private nextId = 0
  /** Frames interned since the last restart. */
  private generationSize = 0

  constructor(grammar: Grammar) {
    this.grammar = grammar
    this.bottom = new Frame(-1, -1, -1, null)
  }

  frame(rule: number, state: number, parent: Frame | null): Frame {
    const key = rule * KEY_STRIDE + state
    let map = parent === null ? this.roots : parent.children
    if (map === undefined) map = parent!.children = new Map()
    let f = map.get(key)
    if (f === undefined) {
      if (this.generationSize >= MAX_FRAMES) this.restart()
      f = new Frame(this.nextId++, rule, state, parent)
      this.generationSize++
      map.set(key, f)
    }
    return f
  }

  /**
   * Starts a new generation of frames: ids keep growing, so a frame of the old generation is never
   * mistaken for a new one; old stacks remain valid objects. Bounds memory when one grammar serves for
   * a long time (deeply nested outputs intern frames per depth).
   */
  private restart(): void {
    this.roots = new Map()
    this.bottom.children = undefined
    this.generationSize = 0
  }

  /** The state at the start of a sentence. */
  initial(): MatchState {
    return this.closure(this.frame(this.grammar.root, 0, null))
  }

  /** A state of one stack, whose top already waits for a byte. */
  single(top: Frame): MatchState {
    return new MatchState([top], false, false)
  }

  /**
   * Every stack `f` stands for once rule calls are entered and completed rules return to their parent:
   * the tops waiting for a byte, and whether the root (canEnd) or an analysed frame (escaped) completed.
   */
  closure(f: Frame): MatchState {
    if (f.closure !== undefined) return f.closure
    const rules = this.grammar.rules
    const tops: Array<Frame> = []
    const visited = new Set<Frame>()
    let canEnd = false, escaped = false
    const walk = (g: Frame): void => {
      if (visited.has(g)) return
      visited.add(g)
      // A complete closure met on the way stands for its whole walk (cycles only cut a walk short).
      if (g !== f && g.closure !== undefined) {
        for (const t of g.closure.tops) tops.push(t)
        canEnd ||= g.closure.canEnd
        escaped ||= g.closure.escaped
        return
      }
      const r = rules[g.rule]
      if (r.hasBytes[g.state]) tops.push(g)
      for (const e of r.refs[g.state]) walk(this.frame(e.rule, 0, this.frame(g.rule, e.to, g.parent)))
      if (r.accepting[g.state]) {
        const p = g.parent
        if (p === null) canEnd = true
        else if (p === this.bottom) escaped = true
        else walk(p)
      }
    }
    walk(f)
    return (f.closure = new MatchState(sortedDistinct(tops), canEnd, escaped))
  }

  /** The state after reading `byte`; null when every stack dies (or nothing more could be read). */
  advance(st: MatchState, byte: number): MatchState | null {
    const tops = st.tops
    const rules = this.grammar.rules
    if (tops.length === 1) {
      const top = tops[0]
      const t = rules[top.rule].next[top.state * 256 + byte]
      if (t < 0) return null
      const c = this.closure(this.frame(top.rule, t, top.parent))
      return c.tops.length === 0 && !c.canEnd && !c.escaped ? null : c
    }
    let merged: Array<Frame> | null = null
    let only: MatchState | null = null
    let canEnd = false, escaped = false
    for (const top of tops) {
      const t = rules[top.rule].next[top.state * 256 + byte]
      if (t < 0) continue
      const c = this.closure(this.frame(top.rule, t, top.parent))
      canEnd ||= c.canEnd
      escaped ||= c.escaped
      if (only === null && merged === null) only = c
      else {
        merged ??= [...only!.tops]
        for (const f of c.tops) merged.push(f)
      }
    }
    if (merged === null) return only !== null && (only.tops.length > 0 || only.canEnd || only.escaped) ? only : null
    const distinct = sortedDistinct(merged)
    return distinct.length === 0 && !canEnd && !escaped ? null : new MatchState(distinct, canEnd, escaped)
  }

  /** The state after reading bytes[from..to), or null when it dies on the way. */
  advanceBytes(st: MatchState, bytes: Uint8Array, from = 0, to = bytes.length): MatchState | null {
    let s: MatchState | null = st
    for (let i = from; i < to && s !== null; i++) s = this.advance(s, bytes[i])
    return s
  }
}

const sortedDistinct = (frames: Array<Frame>): ReadonlyArray<Frame> => {
  if (frames.length <= 1) return frames
  frames.sort((a, b) => a.id - b.id)
  let m = 1
  for (let i = 1; i < frames.length; i++) if (frames[i] !== frames[m - 1]) frames[m++] = frames[i]
  frames.length = m
  return frames
}
