import { CompiledGrammar } from "../../../src/engine/guided/compiled-grammar.ts"
import type { GrammarSpec } from "../../../src/engine/guided/grammar-ast.ts"
import { GuidedSequence } from "../../../src/engine/guided/guided-sequence.ts"
import type { MatchState } from "../../../src/engine/guided/parser-stacks.ts"
import { TokenVocabulary } from "../../../src/engine/guided/vocabulary.ts"
import { Rng } from "../../../src/engine/sampler.ts"
import { TextTokenizer } from "../../../src/engine/tokenizer.ts"
import { bundledModelDir } from "../../support/models.ts"

const encoder = new TextEncoder()

/** The bundled model's byte-level BPE vocabulary (4,096 tokens), as guided decoding sees it. */
export const bundledTokenizer = TextTokenizer.fromDir(bundledModelDir)
export const bundledVocab = new TokenVocabulary(4096, bundledTokenizer.tokenBytes(4096))

/** A vocabulary of the given strings (and raw byte arrays), one token each, plus `specials` null tokens at the end. */
export const vocabOf = (tokens: ReadonlyArray<string | Uint8Array>, specials = 1): TokenVocabulary => {
  const bytes = tokens.map((t) => (typeof t === "string" ? encoder.encode(t) : t))
  return new TokenVocabulary(bytes.length + specials, [...bytes, ...Array.from({ length: specials }, () => null)])
}

/**
 * A vocabulary made to cross grammar boundaries: every single byte, plus a few thousand tokens joining
 * JSON punctuation, letters, digits, escapes, multi-byte characters and tool-call markup (like `","`,
 * `"}`, `1,`, `é"`, `</tool_call>`), as real BPE vocabularies of code-trained models have.
 */
export const crossingVocab = (() => {
  const pieces = ["\"", ",", ":", "{", "}", "[", "]", "a", "b", "é", "日", "1", "0", "9", "-", ".", "true", "null", "\\", "n", "u", " ", "\n", "<", ">", "/", "tool", "_call", "name", "city", "x", "🙂", "e", "E", "+"]
  const rng = Rng.seeded(99)
  const tokens = new Set<string>()
  while (tokens.size < 3000) {
    const n = 2 + Math.floor(rng.nextFloat() * 3)
    let t = ""
    for (let i = 0; i < n; i++) t += pieces[Math.floor(rng.nextFloat() * pieces.length)]
    tokens.add(t)
  }
  const bytes: Array<Uint8Array | null> = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b))
  for (const t of tokens) bytes.push(encoder.encode(t))
  bytes.push(null, null)
  return new TokenVocabulary(bytes.length, bytes)
})()

export const compile = (spec: GrammarSpec, vocab: TokenVocabulary = bundledVocab) => new CompiledGrammar(spec, vocab)

export const bit = (mask: Uint32Array, id: number) => (mask[id >>> 5] & (1 << (id & 31))) !== 0

/** Whether the whole text is a sentence of the grammar (the matcher accepts it and may end there). */
export const accepts = (g: CompiledGrammar, text: string | Uint8Array): boolean => {
  const s = g.stacks.advanceBytes(g.initial, typeof text === "string" ? encoder.encode(text) : text)
  return s !== null && s.canEnd
}

/** Whether the text can be continued into a sentence (the matcher is alive after it). */
export const viablePrefix = (g: CompiledGrammar, text: string): boolean => g.stacks.advanceBytes(g.initial, encoder.encode(text)) !== null

/**
 * A random walk over the grammar's token masks, as guided decoding with a uniform model: at each step
 * a token drawn uniformly from the allowed ones, or the end when the grammar may end (with probability
 * `stopProbability`), after the forced tokens `prefix`. Returns the token ids and every state visited.
 */
export const randomWalk = (g: CompiledGrammar, rng: Rng, maxTokens = 2000, stopProbability = 0.3, prefix: ReadonlyArray<number> = []) => {
  const seq = new GuidedSequence(g)
  const ids: Array<number> = []
  const states: Array<MatchState> = [seq.state]
  for (const id of prefix) {
    if (!seq.accept(id)) throw new Error(`prefix token ${id} is not allowed`)
    ids.push(id)
    states.push(seq.state)
  }
  while (!seq.isComplete && ids.length < maxTokens) {
    if (seq.canEnd && rng.nextFloat() < stopProbability) break
    const mask = seq.allowedTokens()
    const allowed: Array<number> = []
    for (let id = 0; id < g.vocab.size; id++) if (bit(mask, id)) allowed.push(id)
    if (allowed.length === 0) throw new Error(`empty mask after ${ids.length} tokens`)
    const id = allowed[Math.floor(rng.nextFloat() * allowed.length)]
    if (!seq.accept(id)) throw new Error(`token ${id} was in the mask but not accepted`)
    ids.push(id)
    states.push(seq.state)
  }
  return { ids, states, complete: seq.isComplete, canEnd: seq.canEnd }
}

/** The bytes of token ids, concatenated. */
export const bytesOf = (vocab: TokenVocabulary, ids: ReadonlyArray<number>): Uint8Array => {
  const parts = ids.map((id) => vocab.tokenBytes[id]!)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export const textOf = (vocab: TokenVocabulary, ids: ReadonlyArray<number>): string => new TextDecoder().decode(bytesOf(vocab, ids))

/**
 * The longest sentence of a grammar, in bytes (Infinity when sentences are unbounded): with a
 * vocabulary whose tokens are at least one byte, max_tokens at least this never cuts a sentence short.
 */
export const longestSentence = (g: CompiledGrammar): number => {
  const rules = g.grammar.rules
  const memo = new Map<number, number>()
  const onPath = new Set<number>()
  const ruleLongest = (r: number): number => longest(r, 0)
  const longest = (r: number, s: number): number => {
    const key = r * 131072 + s
    const known = memo.get(key)
    if (known !== undefined) return known
    if (onPath.has(key)) return Infinity
    onPath.add(key)
    const rule = rules[r]
    let best = rule.accepting[s] ? 0 : -Infinity
    for (let b = 0; b < 256; b++) {
      const t = rule.next[s * 256 + b]
      if (t >= 0) best = Math.max(best, 1 + longest(r, t))
    }
    for (const e of rule.refs[s]) best = Math.max(best, ruleLongest(e.rule) + longest(r, e.to))
    onPath.delete(key)
    memo.set(key, best)
    return best
  }
  return ruleLongest(g.grammar.root)
}
