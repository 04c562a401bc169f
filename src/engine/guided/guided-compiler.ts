import { CompiledGrammar } from "./compiled-grammar.ts"
import { specGrammar, specKey, type GuidedSpec } from "./guided-spec.ts"
import { TokenVocabulary } from "./vocabulary.ts"

/**
 * Compiled grammars kept per vocabulary (least recently used go first). Each holds its token analyses
 * and up to 128 cached masks (6 KiB each at a 49,152-token vocabulary), so this bounds that memory too.
 */
const CACHE_SIZE = 32

/**
 * Compiles guided-decoding specs for one vocabulary, once per request shape: grammars are cached by the
 * spec's text, so the second request with a schema reuses the first one's grammar and the token masks
 * it has computed so far.
 */
export class GuidedCompiler {
  readonly vocab: TokenVocabulary
  private readonly cache = new Map<string, CompiledGrammar>()

  constructor(vocab: TokenVocabulary) {
    this.vocab = vocab
  }

  /** The grammar for `spec`; throws GrammarError when it cannot be compiled. `cached` says whether it was. */
  compile(spec: GuidedSpec): { readonly grammar: CompiledGrammar; readonly cached: boolean } {
    const key = specKey(spec)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.cache.delete(key)
      this.cache.set(key, hit)
      return { grammar: hit, cached: true }
    }
    const grammar = new CompiledGrammar(specGrammar(spec), this.vocab)
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(key, grammar)
    return { grammar, cached: false }
  }
}

const compilers = new WeakMap<object, GuidedCompiler>()

/**
 * The compiler for a tokenizer's vocabulary at the model's vocab size, built on first use (the
 * vocabulary trie takes tens of milliseconds for ~50k tokens).
 */
export const guidedCompilerFor = (tokenizer: { tokenBytes(size: number): ReadonlyArray<Uint8Array | null> }, vocabSize: number): GuidedCompiler => {
  let compiler = compilers.get(tokenizer)
  if (compiler === undefined || compiler.vocab.size !== vocabSize) {
    compiler = new GuidedCompiler(new TokenVocabulary(vocabSize, tokenizer.tokenBytes(vocabSize)))
    compilers.set(tokenizer, compiler)
  }
  return compiler
}
