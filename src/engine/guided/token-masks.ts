import type { Frame, MatchState, ParserStacks } from "./parser-stacks.ts"
import type { TokenVocabulary } from "./vocabulary.ts"

/**
 * What the vocabulary can do from one top frame (rule, state), whatever lies below it on the stack
 * (xgrammar's context-independent tokens): `accepted` tokens are read entirely within the frame's rule
 * (and rules it calls), so they are valid on any stack with this top; `uncertain` tokens complete the
 * rule part-way through and need the rest of the stack to decide.
 */
interface FrameTokens {
  /** Accepted token ids, when few; else `acceptedBits`. */
  readonly acceptedIds: Int32Array | null
  readonly acceptedBits: Uint32Array | null
  readonly uncertain: Int32Array
}

/** Below this many accepted tokens a frame keeps their ids rather than a whole bitset. */
const SPARSE_LIMIT = 256
/** Token masks kept per grammar (least recently used evicted first). */
const MASK_CACHE_SIZE = 128

/**
 * Token masks of one grammar over one vocabulary: `allowed(state)` is a bitset of the token ids that
 * keep some parser stack alive. Computed per top frame once (a trie walk pruned where the frame dies),
 * then per state by OR-ing its tops and checking their few uncertain tokens against the real stack;
 * whole masks are cached by state, since generation revisits states (inside a string, between
 * properties). A pure function of the state: it could run on a worker as well.
 */
export class TokenMasks {
  private readonly stacks: ParserStacks
  private readonly vocab: TokenVocabulary
  private readonly byFrame = new Map<number, FrameTokens>()
  private readonly byState = new Map<string, Uint32Array>()

  constructor(stacks: ParserStacks, vocab: TokenVocabulary) {
    this.stacks = stacks
    this.vocab = vocab
  }

  /** The tokens allowed in `state` (never special tokens; EOS is the caller's business, via canEnd). */
  allowed(state: MatchState): Uint32Array {
    const key = state.key
    const cached = this.byState.get(key)
    if (cached !== undefined) {
      // Most recently used goes last; the first key is the one evicted.
      this.byState.delete(key)
      this.byState.set(key, cached)
      return cached
    }
    const mask = new Uint32Array(this.vocab.words)
    for (const top of state.tops) this.addTop(mask, top)
    if (this.byState.size >= MASK_CACHE_SIZE) this.byState.delete(this.byState.keys().next().value!)
    this.byState.set(key, mask)
    return mask
  }

  private addTop(mask: Uint32Array, top: Frame): void {
    const ft = this.frameTokens(top.rule, top.state)
    if (ft.acceptedBits !== null) for (let i = 0; i < mask.length; i++) mask[i] |= ft.acceptedBits[i]
    else for (const id of ft.acceptedIds!) mask[id >>> 5] |= 1 << (id & 31)
    if (ft.uncertain.length === 0) return
    const start = this.stacks.single(top)
    for (const id of ft.uncertain) {
      if ((mask[id >>> 5] & (1 << (id & 31))) !== 0) continue
      if (this.stacks.advanceBytes(start, this.vocab.tokenBytes[id]!) !== null) mask[id >>> 5] |= 1 << (id & 31)
    }
  }

  private frameTokens(rule: number, state: number): FrameTokens {
    const key = rule * 131072 + state
    let ft = this.byFrame.get(key)
    if (ft === undefined) this.byFrame.set(key, (ft = this.analyse(rule, state)))
    return ft
  }

  /**
   * Walks the vocabulary trie from a stack holding only this frame (its parent is the analysis bottom).
   * A subtree is dropped when the frame's stacks die in it and the rule has not completed above it;
   * tokens reaching past a completion go to `uncertain`.
   */
  private analyse(rule: number, state: number): FrameTokens {
    const v = this.vocab
    const stacks = this.stacks
    const accepted: Array<number> = []
    const uncertain: Array<number> = []
    const tokensAt = (node: number, into: Array<number>) => {
      for (let i = v.tokenStart[node]; i < v.tokenStart[node + 1]; i++) into.push(v.tokens[i])
    }
    const tokensBelow = (node: number, into: Array<number>) => {
      for (let i = v.tokenStart[node + 1]; i < v.tokenStart[v.subtreeEnd[node]]; i++) into.push(v.tokens[i])
    }
    const nodes: Array<number> = [0]
    const states: Array<MatchState> = [stacks.single(stacks.frame(rule, state, stacks.bottom))]
    const escapedAbove: Array<boolean> = [false]
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const st = states.pop()!
      const above = escapedAbove.pop()!
      for (let c = v.firstChild[node]; c >= 0; c = v.nextSibling[c]) {
        const next = stacks.advance(st, v.label[c])
        const here = next !== null && next.escaped
        if (next !== null) tokensAt(c, accepted)
        else if (above) tokensAt(c, uncertain)
        if (next !== null && next.tops.length > 0) {
          nodes.push(c)
          states.push(next)
          escapedAbove.push(above || here)
        } else if (above || here) tokensBelow(c, uncertain)
      }
    }
    let acceptedIds: Int32Array | null = null, acceptedBits: Uint32Array | null = null
    if (accepted.length <= SPARSE_LIMIT) acceptedIds = Int32Array.from(accepted)
    else {
      acceptedBits = new Uint32Array(v.words)
      for (const id of accepted) acceptedBits[id >>> 5] |= 1 << (id & 31)
    }
    return { acceptedIds, acceptedBits, uncertain: Int32Array.from(uncertain) }
  }
}
