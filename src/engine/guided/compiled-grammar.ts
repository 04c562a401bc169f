import { Grammar } from "./grammar.ts"
import type { GrammarSpec } from "./grammar-ast.ts"
import { ParserStacks, type MatchState } from "./parser-stacks.ts"
import { TokenMasks } from "./token-masks.ts"
import type { TokenVocabulary } from "./vocabulary.ts"

/**
 * A grammar ready for decoding with one vocabulary: its parser stacks and token masks, shared by every
 * sequence that uses it (so work done for one request's states serves the next). What a request's
 * SamplingParams carry as `guided`.
 */
export class CompiledGrammar {
  readonly grammar: Grammar
  readonly stacks: ParserStacks
  readonly masks: TokenMasks
  readonly vocab: TokenVocabulary
  readonly initial: MatchState
  /** Milliseconds the compilation took (reported with the first request of a shape). */
  readonly compileMs: number

  constructor(spec: GrammarSpec, vocab: TokenVocabulary) {
    const t0 = performance.now()
    this.grammar = Grammar.compile(spec)
    this.stacks = new ParserStacks(this.grammar)
    this.masks = new TokenMasks(this.stacks, vocab)
    this.vocab = vocab
    this.initial = this.stacks.initial()
    this.compileMs = performance.now() - t0
  }
}
