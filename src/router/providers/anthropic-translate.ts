import { randomUUID } from "node:crypto"
import { unixSeconds } from "../../api/response-ids.ts"

/**
 * OpenAI chat ⇄ Anthropic Messages, both ways, as pure functions: the request, the whole response and
 * the SSE events. `cache_control` on content parts and messages is passed through untouched.
 */

type Json = Record<string, any>

/** Anthropic requires max_tokens; this is what a request without one gets. */
const DEFAULT_MAX_TOKENS = 4096

const textOf = (content: unknown): string =>
  typeof content === "string" ? content : Array.isArray(content) ? content.map((p: Json) => (p?.type === "text" ? p.text ?? "" : "")).join("") : ""

/** An OpenAI content part as an Anthropic content block. */
const toBlock = (part: Json): Json => {
  if (part.type === "image_url") {
    const url: string = typeof part.image_url === "string" ? part.image_url : part.image_url?.url ?? ""
    const data = /^data:([^;]+);base64,(.*)$/s.exec(url)
    const source = data === null ? { type: "url", url } : { type: "base64", media_type: data[1], data: data[2] }
    return { type: "image", source, ...(part.cache_control && { cache_control: part.cache_control }) }
  }
  return part
}

const toBlocks = (content: unknown, cacheControl?: unknown): Array<Json> | string => {
  if (typeof content === "string") return cacheControl ? [{ type: "text", text: content, cache_control: cacheControl }] : content
  return Array.isArray(content) ? content.map(toBlock) : []
}

const parseArguments = (text: unknown) => {
  try {
    return typeof text === "string" && text !== "" ? JSON.parse(text) : {}
  } catch {
    return {}
  }
}

/** Consecutive messages of the same role merge (Anthropic wants them alternating). */
const pushMessage = (messages: Array<Json>, role: string, blocks: Array<Json> | string) => {
  const last = messages[messages.length - 1]
  if (last?.role === role) {
    const asArray = (b: Array<Json> | string) => (typeof b === "string" ? [{ type: "text", text: b }] : b)
    last.content = [...asArray(last.content), ...asArray(blocks)]
  } else {
    messages.push({ role, content: blocks })
  }
}

export const toAnthropicRequest = (body: Json, model: string, stream: boolean): Json => {
  const system: Array<Json> = []
  const messages: Array<Json> = []
  for (const m of (body.messages ?? []) as Array<Json>) {
    if (m.role === "system" || m.role === "developer") {
      const blocks = toBlocks(m.content, m.cache_control)
      system.push(...(typeof blocks === "string" ? [{ type: "text", text: blocks }] : blocks))
    } else if (m.role === "tool") {
      pushMessage(messages, "user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: textOf(m.content) }])
    } else if (m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const text = textOf(m.content)
      pushMessage(messages, "assistant", [
        ...(text !== "" ? [{ type: "text", text }] : []),
        ...m.tool_calls.map((c: Json) => ({ type: "tool_use", id: c.id, name: c.function?.name, input: parseArguments(c.function?.arguments) }))
      ])
    } else {
      pushMessage(messages, m.role === "assistant" ? "assistant" : "user", toBlocks(m.content, m.cache_control))
    }
  }
  const stop = body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop]
  const out: Json = {
    model,
    messages,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS,
    ...(system.length > 0 && { system: system.every((b) => b.cache_control === undefined && b.type === "text") ? system.map((b) => b.text).join("\n") : system }),
    ...(body.temperature != null && { temperature: Math.min(1, body.temperature) }),
    ...(body.top_p != null && { top_p: body.top_p }),
    ...(body.top_k != null && { top_k: body.top_k }),
    ...(stop !== undefined && { stop_sequences: stop }),
    ...(typeof body.user === "string" && { metadata: { user_id: body.user } }),
    ...(stream && { stream: true })
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((t: Json) => ({
      name: t.function?.name,
      description: t.function?.description,
      input_schema: t.function?.parameters ?? { type: "object", properties: {} },
      ...(t.cache_control && { cache_control: t.cache_control })
    }))
    const choice = body.tool_choice
    if (choice === "required") out.tool_choice = { type: "any" }
    else if (choice === "none") out.tool_choice = { type: "none" }
    else if (typeof choice === "object" && choice?.function?.name) out.tool_choice = { type: "tool", name: choice.function.name }
  }
  return out
}

export const finishReason = (stop: unknown): string | null => {
  switch (stop) {
    case null:
    case undefined:
      return null
    case "max_tokens":
      return "length"
    case "tool_use":
      return "tool_calls"
    case "refusal":
      return "content_filter"
    default:
      return "stop"
  }
}

/**
 * Anthropic usage as OpenAI usage. Anthropic's input_tokens excludes cached tokens; OpenAI's
 * prompt_tokens includes them, with cache reads reported as cached_tokens.
 */
export const toOpenAiUsage = (u: Json) => {
  const read = u.cache_read_input_tokens ?? 0
  const created = u.cache_creation_input_tokens ?? 0
  const prompt = (u.input_tokens ?? 0) + read + created
  const completion = u.output_tokens ?? 0
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: read },
    cache_read_input_tokens: read,
    cache_creation_input_tokens: created
  }
}

export const toOpenAiResponse = (r: Json, model: string) => {
  const blocks = (r.content ?? []) as Array<Json>
  const toolCalls = blocks.filter((b) => b.type === "tool_use").map((b) => ({
    id: b.id,
    type: "function",
    function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) }
  }))
  return {
    id: `chatcmpl-${r.id ?? randomUUID()}`,
    object: "chat.completion",
    created: unixSeconds(),
    model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: textOf(blocks) || (toolCalls.length > 0 ? null : ""), ...(toolCalls.length > 0 && { tool_calls: toolCalls }) },
      logprobs: null,
      finish_reason: finishReason(r.stop_reason)
    }],
    usage: toOpenAiUsage(r.usage ?? {})
  }
}

/**
 * Anthropic stream events → OpenAI chunks, one event at a time (state: the message id, usage so far,
 * which content block is which tool call). Returns the chunks an event produces; `error` events throw.
 */
export class AnthropicStreamTranslator {
  private id = `chatcmpl-${randomUUID()}`
  private readonly created = unixSeconds()
  private usage: Json = {}
  private readonly toolIndex = new Map<number, number>()
  /** Whether message_stop has come: a stream that ends before it was cut short. */
  stopped = false
  readonly model: string
  readonly includeUsage: boolean

  constructor(model: string, includeUsage: boolean) {
    this.model = model
    this.includeUsage = includeUsage
  }

  private chunk(delta: Json, finish: string | null = null): Json {
    return {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(this.includeUsage && { usage: null })
    }
  }

  get openAiUsage() {
    return toOpenAiUsage(this.usage)
  }

  push(event: Json): Array<Json> {
    switch (event.type) {
      case "message_start":
        if (event.message?.id) this.id = `chatcmpl-${event.message.id}`
        this.usage = { ...event.message?.usage }
        return [this.chunk({ role: "assistant", content: "" })]
      case "content_block_start": {
        const block = event.content_block ?? {}
        if (block.type === "tool_use") {
          const index = this.toolIndex.size
          this.toolIndex.set(event.index, index)
          return [this.chunk({ tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })]
        }
        return block.type === "text" && block.text ? [this.chunk({ content: block.text })] : []
      }
      case "content_block_delta": {
        const d = event.delta ?? {}
        if (d.type === "text_delta") return [this.chunk({ content: d.text })]
        if (d.type === "input_json_delta") {
          return [this.chunk({ tool_calls: [{ index: this.toolIndex.get(event.index) ?? 0, function: { arguments: d.partial_json } }] })]
        }
        return []
      }
      case "message_delta":
        this.usage = { ...this.usage, ...event.usage }
        return event.delta?.stop_reason ? [this.chunk({}, finishReason(event.delta.stop_reason))] : []
      case "message_stop":
        this.stopped = true
        return this.includeUsage
          ? [{ id: this.id, object: "chat.completion.chunk", created: this.created, model: this.model, choices: [], usage: this.openAiUsage }]
          : []
      case "error":
        throw new AnthropicStreamError(event.error?.type ?? "error", event.error?.message ?? "The upstream stream failed.")
      default:
        return []
    }
  }
}

export class AnthropicStreamError extends Error {
  readonly type: string
  constructor(type: string, message: string) {
    super(message)
    this.type = type
  }
}
