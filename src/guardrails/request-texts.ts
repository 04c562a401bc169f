/**
 * The texts of a chat or completions request a guardrail looks at, and the same request with those
 * texts replaced: string contents and text parts of messages (with their role), and prompts.
 */
export interface RequestText {
  readonly role: string
  readonly text: string
}

type Json = Record<string, unknown>

const mapContent = (content: unknown, f: (text: string) => string): unknown =>
  typeof content === "string" ? f(content)
    : Array.isArray(content) ? content.map((p) => (p !== null && typeof p === "object" && (p as Json).type === "text" && typeof (p as Json).text === "string" ? { ...(p as Json), text: f((p as Json).text as string) } : p))
    : content

/** Every text of the request, in order. */
export const requestTexts = (body: Readonly<Json>): Array<RequestText> => {
  const out: Array<RequestText> = []
  mapTexts(body, (text, role) => {
    out.push({ role, text })
    return text
  })
  return out
}

/** The request with each text replaced by `f(text, role)` (the same object when nothing changed). */
export const mapTexts = (body: Readonly<Json>, f: (text: string, role: string) => string): Readonly<Json> => {
  let changed = false
  const g = (role: string) => (text: string) => {
    const t = f(text, role)
    if (t !== text) changed = true
    return t
  }
  const messages = Array.isArray(body.messages)
    ? body.messages.map((m) => (m !== null && typeof m === "object" ? { ...(m as Json), content: mapContent((m as Json).content, g(String((m as Json).role ?? "user"))) } : m))
    : undefined
  const prompt = typeof body.prompt === "string" ? g("user")(body.prompt)
    : Array.isArray(body.prompt) ? body.prompt.map((p) => (typeof p === "string" ? g("user")(p) : p))
    : undefined
  if (!changed) return body
  return { ...body, ...(messages !== undefined && { messages }), ...(prompt !== undefined && { prompt }) }
}
