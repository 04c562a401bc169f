/**
 * Prompt tokens of a request bound for an upstream whose tokenizer we do not have: about 4 characters
 * per token (OpenAI's rule of thumb) plus a few tokens of framing per message. Used for admission,
 * usage-based routing and the context-window check; the upstream's usage replaces it afterwards.
 */
const CHARS_PER_TOKEN = 4
const TOKENS_PER_MESSAGE = 4

const textLength = (content: unknown): number => {
  if (typeof content === "string") return content.length
  if (Array.isArray(content)) return content.reduce((n: number, part) => n + textLength((part as { text?: unknown })?.text ?? ""), 0)
  return 0
}

export const estimatePromptTokens = (body: Readonly<Record<string, unknown>>): number => {
  if (Array.isArray(body.messages)) {
    return body.messages.reduce((n: number, m) => n + TOKENS_PER_MESSAGE + Math.ceil(textLength((m as { content?: unknown })?.content) / CHARS_PER_TOKEN), 0)
  }
  // A legacy completion's prompt, or an embedding request's input (the same shapes).
  const prompt = body.prompt ?? body.input
  const prompts = Array.isArray(prompt) ? prompt : [prompt]
  return prompts.reduce((n: number, p) => n + (typeof p === "string" ? Math.ceil(p.length / CHARS_PER_TOKEN) : Array.isArray(p) ? p.length : 0), 0)
}

/** The most completion tokens the request allows (0 when it does not say: the upstream decides). */
export const maxCompletionTokens = (body: Readonly<Record<string, unknown>>): number => {
  const max = body.max_completion_tokens ?? body.max_tokens
  const n = typeof body.n === "number" ? body.n : 1
  return typeof max === "number" ? max * n : 0
}
