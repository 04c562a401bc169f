import type { TextTokenizer } from "./tokenizer.ts"

/** Prompt tokens kept as decoding context for the first output token (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET). */
const CONTEXT_TOKENS = 5
/** vLLM takes two more prompt tokens than it needs, in case skipped special tokens are among them. */
const CONTEXT_SLACK = 2
/** Tokens before prefixOffset are never decoded again; drop them once this many pile up. */
const TRIM_AFTER = 64

/**
 * Turns a sequence's output tokens into text one token at a time, as vLLM's incremental detokenizer
 * does. A token's text is not the decode of that token alone: byte-level tokens can hold part of a
 * UTF-8 character, and decoders such as SentencePiece's drop or add spaces depending on neighbours.
 * So each step decodes a short window [prefixOffset, end) and emits what it adds beyond the already
 * emitted part [prefixOffset, readOffset), and emits nothing while the window ends in U+FFFD (an
 * unfinished multi-byte character) until a later token completes it.
 */
export class IncrementalDetokenizer {
  private readonly tokenizer: TextTokenizer
  private readonly skipSpecialTokens: boolean
  /** Token ids still needed for decoding: some prompt context, then the output. */
  private readonly ids: Array<number>
  /** Start of the decode window: context for the tokens being turned into text. */
  private prefixOffset: number
  /** Tokens before this are already emitted as text. */
  private readOffset: number
  /** decode(ids[prefixOffset, readOffset)), cached while the offsets stay put. */
  private prefixText: string | null = null

  constructor(tokenizer: TextTokenizer, promptTokenIds: ArrayLike<number>, skipSpecialTokens: boolean) {
    this.tokenizer = tokenizer
    this.skipSpecialTokens = skipSpecialTokens
    const tail = Array.from(promptTokenIds).slice(-(CONTEXT_TOKENS + CONTEXT_SLACK))
    this.ids = tail.filter((id) => this.decodable(id))
    this.readOffset = this.ids.length
    this.prefixOffset = Math.max(this.readOffset - CONTEXT_TOKENS, 0)
  }

  /** Adds one output token; returns the text it completes (often "", never a partial character). */
  push(tokenId: number): string {
    // A skipped special or an unknown id contributes no text (vLLM decodes it as "").
    if (!this.decodable(tokenId)) return ""
    this.ids.push(tokenId)
    const prefixText = this.prefixText ??= this.decode(this.prefixOffset, this.readOffset)
    const fullText = this.decode(this.prefixOffset, this.ids.length)
    if (fullText.length <= prefixText.length || fullText.endsWith("\uFFFD")) return ""
    this.advance()
    return fullText.slice(prefixText.length)
  }

  /** Text still held back at the end of the sequence (an unfinished character decodes as U+FFFD). */
  flush(): string {
    if (this.readOffset === this.ids.length) return ""
    const prefixText = this.prefixText ??= this.decode(this.prefixOffset, this.readOffset)
    const fullText = this.decode(this.prefixOffset, this.ids.length)
    this.advance()
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : ""
  }

  private decodable(id: number): boolean {
    return !(this.skipSpecialTokens && this.tokenizer.specialIds.has(id)) && this.tokenizer.idToToken(id) !== undefined
  }

  private decode(from: number, to: number): string {
    // The tokenizer rejects an empty id list.
    return from >= to ? "" : this.tokenizer.decode(this.ids.slice(from, to), this.skipSpecialTokens)
  }

  /** Everything so far is emitted: the window moves up to start at the last emitted tokens. */
  private advance(): void {
    this.prefixOffset = this.readOffset
    this.readOffset = this.ids.length
    this.prefixText = null
    if (this.prefixOffset >= TRIM_AFTER) {
      this.ids.splice(0, this.prefixOffset)
      this.readOffset -= this.prefixOffset
      this.prefixOffset = 0
    }
  }
}
