import type { PromptTokenLogprob, SampledToken, TokenLogprob } from "../engine/sampler.ts"
import type { TextTokenizer } from "../engine/tokenizer.ts"

/**
 * Log-probabilities in the two OpenAI formats: chat (`{content: [{token, logprob, bytes, top_logprobs}]}`)
 * and legacy completions (`{tokens, token_logprobs, top_logprobs, text_offset}`).
 */

/** How a token is shown: its own decoded text, or "token_id:N" (vLLM's return_tokens_as_token_ids). */
export interface TokenRenderer {
  readonly text: (tokenId: number) => string
}

export const tokenRenderer = (tokenizer: TextTokenizer | null, asTokenIds: boolean): TokenRenderer => ({
  text: tokenizer === null || asTokenIds ? (id) => `token_id:${id}` : (id) => tokenizer.decode([id], false)
})

/** JSON has no -Infinity; vLLM reports impossible tokens as -9999. */
const finite = (logprob: number | null): number => (logprob === null || !Number.isFinite(logprob) ? -9999 : logprob)

const utf8 = new TextEncoder()
const bytesOf = (s: string): Array<number> => Array.from(utf8.encode(s))

export interface ChatTopLogprob {
  readonly token: string
  readonly logprob: number
  readonly bytes: Array<number>
}

export interface ChatTokenLogprob extends ChatTopLogprob {
  readonly top_logprobs: Array<ChatTopLogprob>
}

const chatTop = (render: TokenRenderer, t: TokenLogprob): ChatTopLogprob => {
  const token = render.text(t.tokenId)
  return { token, logprob: finite(t.logprob), bytes: bytesOf(token) }
}

/** Chat `logprobs.content` entries for sampled tokens. */
export const chatLogprobs = (render: TokenRenderer, sampled: ReadonlyArray<SampledToken>): Array<ChatTokenLogprob> =>
  sampled.map((s) => {
    const token = render.text(s.tokenId)
    return { token, logprob: finite(s.logprob), bytes: bytesOf(token), top_logprobs: (s.topLogprobs ?? []).map((t) => chatTop(render, t)) }
  })

export interface LegacyLogprobs {
  tokens: Array<string>
  token_logprobs: Array<number | null>
  top_logprobs: Array<Record<string, number> | null>
  text_offset: Array<number>
}

export const emptyLegacyLogprobs = (): LegacyLogprobs => ({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] })

/**
 * Appends tokens to a legacy logprobs object. `textOffset` is where the next token starts in the
 * choice's `text` (which starts with the prompt when echoing); returns the offset after them. As in
 * OpenAI's and vLLM's output, each position's top_logprobs also holds the chosen token.
 */
export const appendLegacyLogprobs = (
  into: LegacyLogprobs,
  render: TokenRenderer,
  entries: ReadonlyArray<{ readonly tokenId: number; readonly logprob: number | null; readonly topLogprobs: ReadonlyArray<TokenLogprob> | null } | null>,
  tokenIds: ReadonlyArray<number>,
  textOffset: number
): number => {
  let offset = textOffset
  for (let i = 0; i < tokenIds.length; i++) {
    const entry = entries[i] ?? null
    const token = render.text(tokenIds[i])
    into.tokens.push(token)
    into.text_offset.push(offset)
    offset += token.length
    if (entry === null) {
      into.token_logprobs.push(null)
      into.top_logprobs.push(null)
      continue
    }
    into.token_logprobs.push(finite(entry.logprob))
    const top: Record<string, number> = {}
    for (const t of entry.topLogprobs ?? []) top[render.text(t.tokenId)] = finite(t.logprob)
    top[token] = finite(entry.logprob)
    into.top_logprobs.push(top)
  }
  return offset
}

/** Appends `more` to `into` (a choice's logprobs grow delta by delta). */
export const concatLegacyLogprobs = (into: LegacyLogprobs, more: LegacyLogprobs): void => {
  into.tokens.push(...more.tokens)
  into.token_logprobs.push(...more.token_logprobs)
  into.top_logprobs.push(...more.top_logprobs)
  into.text_offset.push(...more.text_offset)
}

/** vLLM's `prompt_logprobs`: per prompt position null (the first) or {token_id: {logprob, rank, decoded_token}}. */
export const vllmPromptLogprobs = (render: TokenRenderer, entries: ReadonlyArray<PromptTokenLogprob | null>) =>
  entries.map((e) => {
    if (e === null) return null
    const out: Record<string, { logprob: number; rank: number | null; decoded_token: string }> = {}
    out[String(e.tokenId)] = { logprob: finite(e.logprob), rank: e.rank, decoded_token: render.text(e.tokenId) }
    e.topLogprobs.forEach((t, i) => {
      if (!(String(t.tokenId) in out)) out[String(t.tokenId)] = { logprob: finite(t.logprob), rank: i + 1, decoded_token: render.text(t.tokenId) }
    })
    return out
  })
