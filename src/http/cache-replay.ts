import type { Usage } from "../api/usage-meter.ts"

/**
 * The response cache's two conversions between a stream and a whole answer, in OpenAI's shapes: a
 * streamed answer assembled into the whole response it stands for (what is stored), and a stored
 * response replayed as the chunks a stream of it sends (role chunk, content, finish reason, the usage
 * chunk when asked for; the SSE writer adds [DONE]).
 */

type Json = Record<string, any>

/** One choice being assembled from deltas. */
interface ChoiceParts {
  role: string
  content: string
  text: string
  toolCalls: Array<Json>
  logprobs: Json | null
  finishReason: string | null
  stopReason: unknown
}

const newChoice = (): ChoiceParts => ({ role: "assistant", content: "", text: "", toolCalls: [], logprobs: null, finishReason: null, stopReason: undefined })

/** Legacy completions' logprobs of successive chunks, concatenated. */
const appendLegacyLogprobs = (into: Json, more: Json) => {
  for (const k of ["tokens", "token_logprobs", "top_logprobs", "text_offset"]) {
    if (Array.isArray(more[k])) into[k] = [...(into[k] ?? []), ...more[k]]
  }
}

/** Folds streamed chunks (their JSON text, as passed to the client) into the whole response. */
export class StreamAssembler {
  private readonly kind: "chat" | "completions"
  private envelope: Json | undefined
  private readonly choices = new Map<number, ChoiceParts>()
  private usage: Json | undefined

  constructor(kind: "chat" | "completions") {
    this.kind = kind
  }

  add(json: string): void {
    let chunk: Json
    try {
      chunk = JSON.parse(json)
    } catch {
      return
    }
    if (typeof chunk !== "object" || chunk === null) return
    this.envelope ??= chunk
    if (chunk.usage) this.usage = chunk.usage
    for (const c of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const index = typeof c.index === "number" ? c.index : 0
      let parts = this.choices.get(index)
      if (parts === undefined) this.choices.set(index, (parts = newChoice()))
      this.addDelta(parts, c)
    }
  }

  private addDelta(parts: ChoiceParts, c: Json): void {
    if (c.finish_reason) parts.finishReason = c.finish_reason
    if (c.stop_reason !== undefined && c.stop_reason !== null) parts.stopReason = c.stop_reason
    if (this.kind === "completions") {
      if (typeof c.text === "string") parts.text += c.text
      if (c.logprobs) appendLegacyLogprobs((parts.logprobs ??= {}), c.logprobs)
      return
    }
    const d = c.delta ?? {}
    if (typeof d.role === "string") parts.role = d.role
    if (typeof d.content === "string") parts.content += d.content
    if (Array.isArray(c.logprobs?.content)) (parts.logprobs ??= { content: [] }).content.push(...c.logprobs.content)
    for (const t of Array.isArray(d.tool_calls) ? d.tool_calls : []) {
      const i = typeof t.index === "number" ? t.index : 0
      const call = (parts.toolCalls[i] ??= { id: "", type: "function", function: { name: "", arguments: "" } })
      if (t.id) call.id = t.id
      if (t.type) call.type = t.type
      if (t.function?.name) call.function.name += t.function.name
      if (typeof t.function?.arguments === "string") call.function.arguments += t.function.arguments
    }
  }

  /** The whole response (its usage: the stream's usage chunk, else `usage`), or undefined when nothing came. */
  response(usage: Usage): Json | undefined {
    const e = this.envelope
    if (e === undefined || this.choices.size === 0) return undefined
    const choices = [...this.choices.entries()].sort(([a], [b]) => a - b).map(([index, p]) =>
      this.kind === "completions"
        ? { index, text: p.text, logprobs: p.logprobs, finish_reason: p.finishReason, ...(p.stopReason !== undefined && { stop_reason: p.stopReason }) }
        : {
          index,
          message: { role: p.role, content: p.toolCalls.length > 0 && p.content === "" ? null : p.content, ...(p.toolCalls.length > 0 && { tool_calls: p.toolCalls }) },
          logprobs: p.logprobs,
          finish_reason: p.finishReason,
          ...(p.stopReason !== undefined && { stop_reason: p.stopReason })
        }
    )
    return {
      id: e.id,
      object: this.kind === "chat" ? "chat.completion" : "text_completion",
      created: e.created,
      model: e.model,
      ...(e.system_fingerprint !== undefined && { system_fingerprint: e.system_fingerprint }),
      choices,
      usage: this.usage ?? usage
    }
  }
}

/** The chunks a stream of `response` sends (JSON text each), as the server's own streams shape them. */
export const replayChunks = (kind: "chat" | "completions", response: Json, includeUsage: boolean): Array<string> => {
  const envelope = (choices: ReadonlyArray<unknown>) => JSON.stringify({
    id: response.id,
    object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created: response.created,
    model: response.model,
    ...(response.system_fingerprint !== undefined && { system_fingerprint: response.system_fingerprint }),
    choices,
    ...(includeUsage && { usage: null })
  })
  const out: Array<string> = []
  const choices: Array<Json> = Array.isArray(response.choices) ? response.choices : []
  for (const c of choices) {
    const stop = c.stop_reason !== undefined ? { stop_reason: c.stop_reason } : {}
    if (kind === "completions") {
      out.push(envelope([{ index: c.index, text: c.text ?? "", logprobs: c.logprobs ?? null, finish_reason: null }]))
      out.push(envelope([{ index: c.index, text: "", logprobs: null, finish_reason: c.finish_reason, ...stop }]))
      continue
    }
    const m = c.message ?? {}
    out.push(envelope([{ index: c.index, delta: { role: m.role ?? "assistant", content: "" }, logprobs: null, finish_reason: null }]))
    if (typeof m.content === "string" && m.content !== "") {
      out.push(envelope([{ index: c.index, delta: { content: m.content }, logprobs: c.logprobs ?? null, finish_reason: null }]))
    }
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const calls = m.tool_calls.map((t: Json, index: number) => ({ index, id: t.id, type: t.type ?? "function", function: t.function }))
      out.push(envelope([{ index: c.index, delta: { tool_calls: calls }, logprobs: null, finish_reason: null }]))
    }
    out.push(envelope([{ index: c.index, delta: {}, logprobs: null, finish_reason: c.finish_reason, ...stop }]))
  }
  if (includeUsage) {
    out.push(JSON.stringify({ id: response.id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: response.created, model: response.model, choices: [], usage: response.usage }))
  }
  return out
}
