import type { Usage } from "../../api/usage-meter.ts"

/**
 * OpenAI chat answers as Anthropic Messages answers: the whole message, and the stream's events in
 * Anthropic's order (message_start, then per content block content_block_start / content_block_delta /
 * content_block_stop, a ping after the first block starts, then message_delta with the stop reason and
 * usage, then message_stop).
 */
type Json = Record<string, any>

/** Anthropic's id of a message made from a chat completion's (`chatcmpl-X` → `msg_X`). */
export const messageId = (chatId: unknown): string =>
  `msg_${typeof chatId === "string" ? chatId.replace(/^chatcmpl-/, "") : Math.random().toString(36).slice(2)}`

/** Why the answer ended, Anthropic's way; `stopReason` is vLLM's (the stop string that matched). */
export const stopReasonOf = (finishReason: unknown, stopReason: unknown): { readonly stop_reason: string | null; readonly stop_sequence: string | null } => {
  switch (finishReason) {
    case "stop":
      return typeof stopReason === "string" ? { stop_reason: "stop_sequence", stop_sequence: stopReason } : { stop_reason: "end_turn", stop_sequence: null }
    case "length":
      return { stop_reason: "max_tokens", stop_sequence: null }
    case "tool_calls":
      return { stop_reason: "tool_use", stop_sequence: null }
    case "content_filter":
      return { stop_reason: "refusal", stop_sequence: null }
    case null:
    case undefined:
      return { stop_reason: null, stop_sequence: null }
    default:
      return { stop_reason: "end_turn", stop_sequence: null }
  }
}

/** Anthropic's usage: input_tokens excludes the prompt tokens read from a cache (cache_read_input_tokens). */
export const anthropicUsage = (usage: Partial<Usage> | undefined) => {
  const prompt = usage?.prompt_tokens ?? 0
  const cached = usage?.prompt_tokens_details?.cached_tokens ?? 0
  return { input_tokens: prompt - cached, output_tokens: usage?.completion_tokens ?? 0, cache_creation_input_tokens: 0, cache_read_input_tokens: cached }
}

const parseInput = (args: unknown): unknown => {
  if (typeof args !== "string" || args === "") return {}
  try {
    return JSON.parse(args)
  } catch {
    return {}
  }
}

/** The whole message of a (non-streaming) chat completion; `model` is the name the client asked for. */
export const toMessage = (completion: Json, model: string) => {
  const choice = completion.choices?.[0] ?? {}
  const message = choice.message ?? {}
  const content: Array<Json> = []
  if (typeof message.content === "string" && message.content !== "") content.push({ type: "text", text: message.content })
  for (const call of message.tool_calls ?? []) content.push({ type: "tool_use", id: call.id, name: call.function?.name, input: parseInput(call.function?.arguments) })
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model,
    content,
    ...stopReasonOf(choice.finish_reason, choice.stop_reason),
    usage: anthropicUsage(completion.usage)
  }
}

/** One server-sent event of Anthropic's stream: its type as the event name, the object as data. */
export interface AnthropicEvent {
  readonly type: string
  readonly [key: string]: unknown
}

/**
 * Turns a chat stream's chunks (JSON text, as the router yields them) into Anthropic events. `usage`
 * reads the request's usage so far (exact prompt tokens for the served model when the first chunk
 * arrives; an upstream's with its last chunk).
 */
export class MessagesStreamTranslator {
  private id: string | undefined
  private readonly model: string
  private readonly usage: () => Usage
  private started = false
  private pinged = false
  private index = -1
  private open: "text" | "tool_use" | null = null
  private finishReason: unknown = null
  private stopReason: unknown = null

  constructor(model: string, usage: () => Usage) {
    this.model = model
    this.usage = usage
  }

  /** message_start, once: the message id is made from the first chunk's. */
  private start(out: Array<AnthropicEvent>, chatId?: unknown) {
    if (this.started) return
    this.started = true
    this.id = messageId(chatId)
    const usage = anthropicUsage(this.usage())
    out.push({ type: "message_start", message: { id: this.id, type: "message", role: "assistant", model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 0 } } })
  }

  private openBlock(out: Array<AnthropicEvent>, kind: "text" | "tool_use", block: Json) {
    this.closeBlock(out)
    this.index++
    this.open = kind
    out.push({ type: "content_block_start", index: this.index, content_block: block })
    if (!this.pinged) {
      this.pinged = true
      out.push({ type: "ping" })
    }
  }

  private closeBlock(out: Array<AnthropicEvent>) {
    if (this.open === null) return
    out.push({ type: "content_block_stop", index: this.index })
    this.open = null
  }

  /** The events of one chat chunk. */
  push(chunkText: string): Array<AnthropicEvent> {
    const out: Array<AnthropicEvent> = []
    const chunk = JSON.parse(chunkText) as Json
    this.start(out, chunk.id)
    const choice = chunk.choices?.[0]
    if (choice === undefined) return out
    const delta = choice.delta ?? {}
    if (typeof delta.content === "string" && delta.content !== "") {
      if (this.open !== "text") this.openBlock(out, "text", { type: "text", text: "" })
      out.push({ type: "content_block_delta", index: this.index, delta: { type: "text_delta", text: delta.content } })
    }
    for (const call of delta.tool_calls ?? []) {
      if (typeof call.id === "string") this.openBlock(out, "tool_use", { type: "tool_use", id: call.id, name: call.function?.name ?? "", input: {} })
      const args = call.function?.arguments
      if (typeof args === "string" && args !== "" && this.open === "tool_use") out.push({ type: "content_block_delta", index: this.index, delta: { type: "input_json_delta", partial_json: args } })
    }
    if (choice.finish_reason != null) {
      this.finishReason = choice.finish_reason
      this.stopReason = choice.stop_reason ?? null
    }
    return out
  }

  /** The events that end the message, once the chat stream has ended. */
  end(): Array<AnthropicEvent> {
    const out: Array<AnthropicEvent> = []
    this.start(out)
    this.closeBlock(out)
    if (!this.pinged) out.push({ type: "ping" })
    const usage = anthropicUsage(this.usage())
    out.push({ type: "message_delta", delta: stopReasonOf(this.finishReason, this.stopReason), usage })
    out.push({ type: "message_stop" })
    return out
  }
}
