import type { CompiledGrammar } from "./compiled-grammar.ts"
import type { MatchState } from "./parser-stacks.ts"

/**
 * One sequence's position in its grammar (n > 1: one per sequence). The engine asks for the allowed
 * tokens before sampling and feeds the sampled token back. Its state is persistent, so a snapshot is
 * a reference (what speculative decoding needs to roll back).
 */
export class GuidedSequence {
  readonly grammar: CompiledGrammar
  private current: MatchState

  constructor(grammar: CompiledGrammar) {
    this.grammar = grammar
    this.current = grammar.initial
  }

  get state(): MatchState {
    return this.current
  }

  /** The text so far is a whole sentence: EOS may come now. */
  get canEnd(): boolean {
    return this.current.canEnd
  }

  /** Nothing more can follow: the sequence is done. */
  get isComplete(): boolean {
    return this.current.isComplete
  }

  /** Bitset of the text tokens that may come next (special tokens never; EOS by canEnd). */
  allowedTokens(): Uint32Array {
    return this.grammar.masks.allowed(this.current)
  }

  /** Reads a sampled token; false (and no change) when its bytes are not allowed here. */
  accept(tokenId: number): boolean {
    const bytes = this.grammar.vocab.tokenBytes[tokenId]
    if (bytes == null) return false
    const next = this.grammar.stacks.advanceBytes(this.current, bytes)
    if (next === null) return false
    this.current = next
    return true
  }

  /** Goes back to an earlier state (from `state`). */
  restore(state: MatchState): void {
    this.current = state
  }
}
