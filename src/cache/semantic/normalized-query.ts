/**
 * The text that identifies a request for semantic matching: the last user turn of a chat request, or
 * the prompt of a completions request, with its whitespace collapsed (case and punctuation kept: the
 * guard reads names and quotes from them). Everything else that changes the answer (system prompt,
 * earlier turns, model group, sampling parameters) belongs to the cache partition, not to this text.
 *
 * Undefined when a request is not a candidate: the last message is not the user's (a tool result, an
 * assistant prefill), a user turn holds anything but text (an image, audio), the completions prompt is
 * several prompts or token ids, or the text has more than `maxWords` words. Long texts are left to the
 * exact cache because a one-sentence change to a long document barely moves its average vector.
 */
export interface NormalizedQueryOptions {
  /** The most words a text may have to be matched semantically (default 64). */
  readonly maxWords?: number
}

export const DEFAULT_MAX_QUERY_WORDS = 64

const collapse = (text: string): string => text.normalize("NFKC").replace(/\s+/g, " ").trim()

/** The text of a message's content: a string, or text parts only (undefined if any part is not text). */
const contentText = (content: unknown): string | undefined => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return undefined
  const texts: Array<string> = []
  for (const part of content) {
    const p = part as { type?: unknown; text?: unknown } | null
    if (p === null || typeof p !== "object" || p.type !== "text" || typeof p.text !== "string") return undefined
    texts.push(p.text)
  }
  return texts.join("\n")
}

const rawQuery = (body: Readonly<Record<string, unknown>>): string | undefined => {
  if (Array.isArray(body.messages)) {
    const last = body.messages[body.messages.length - 1] as { role?: unknown; content?: unknown } | null | undefined
    return last !== null && typeof last === "object" && last.role === "user" ? contentText(last.content) : undefined
  }
  if (typeof body.prompt === "string") return body.prompt
  if (Array.isArray(body.prompt) && body.prompt.length === 1 && typeof body.prompt[0] === "string") return body.prompt[0]
  return undefined
}

export const normalizedQuery = (body: Readonly<Record<string, unknown>>, options: NormalizedQueryOptions = {}): string | undefined => {
  const raw = rawQuery(body)
  if (raw === undefined) return undefined
  const text = collapse(raw)
  if (text.length === 0) return undefined
  const words = text.split(" ").length
  return words > (options.maxWords ?? DEFAULT_MAX_QUERY_WORDS) ? undefined : text
}
