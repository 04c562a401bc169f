import type { Usage } from "../../api/usage-meter.ts"
import { itemId } from "./responses-request.ts"

/**
 * Chat answers as Responses API objects: the response (its output items: one assistant message with
 * output_text, function_call items), and the stream's typed events in OpenAI's order, each with its
 * sequence_number.
 */
type Json = Record<string, any>

/** What the response object repeats of its request. */
export interface ResponseEcho {
  readonly id: string
  readonly createdAt: number
  readonly model: string
  readonly request: Json
}

const usageOf = (u: Partial<Usage> | undefined) => ({
  input_tokens: u?.prompt_tokens ?? 0,
  input_tokens_details: { cached_tokens: u?.prompt_tokens_details?.cached_tokens ?? 0 },
  output_tokens: u?.completion_tokens ?? 0,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: (u?.prompt_tokens ?? 0) + (u?.completion_tokens ?? 0)
})

/** The response object; `output` and usage null while it is in progress. */
export const responseObject = (echo: ResponseEcho, status: "in_progress" | "completed" | "incomplete", output: ReadonlyArray<Json>, usage: Partial<Usage> | null) => {
  const r = echo.request
  return {
    id: echo.id,
    object: "response",
    created_at: echo.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    metadata: r.metadata ?? {},
    model: echo.model,
    output,
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: "default",
    store: r.store !== false,
    temperature: r.temperature ?? null,
    text: { format: r.text?.format ?? { type: "text" } },
    tool_choice: r.tool_choice ?? "auto",
    tools: r.tools ?? [],
    top_p: r.top_p ?? null,
    truncation: "disabled",
    usage: usage === null ? null : usageOf(usage),
    user: r.user ?? null
  }
}

const messageItem = (id: string, text: string, status: "in_progress" | "completed") => ({
  id,
  type: "message",
  status,
  role: "assistant",
  content: status === "in_progress" ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }]
})

const callItem = (id: string, call: Json, status: "in_progress" | "completed") => ({
  id,
  type: "function_call",
  status,
  call_id: call.id,
  name: call.function?.name ?? "",
  arguments: status === "in_progress" ? "" : call.function?.arguments ?? ""
})

/** The output items of a whole chat completion, and the assistant message that continues the conversation. */
export const outputOf = (completion: Json): { readonly output: Array<Json>; readonly assistant: Json; readonly status: "completed" | "incomplete" } => {
  const choice = completion.choices?.[0] ?? {}
  const message = choice.message ?? {}
  const calls: Array<Json> = message.tool_calls ?? []
  const text: string = typeof message.content === "string" ? message.content : ""
  const output: Array<Json> = []
  if (text !== "" || calls.length === 0) output.push(messageItem(itemId("msg"), text, "completed"))
  for (const call of calls) output.push(callItem(itemId("fc"), call, "completed"))
  return {
    output,
    assistant: { role: "assistant", content: text === "" && calls.length > 0 ? null : text, ...(calls.length > 0 && { tool_calls: calls }) },
    status: choice.finish_reason === "length" ? "incomplete" : "completed"
  }
}

export interface ResponseEvent {
  readonly type: string
  readonly [key: string]: unknown
}

/**
 * Chat chunks (JSON text, as the router yields them) as the Responses stream: response.created and
 * response.in_progress, then per output item output_item.added, its content (content_part.added,
 * output_text.delta..., output_text.done, content_part.done, or function_call_arguments.delta...,
 * function_call_arguments.done), output_item.done, and at the end response.completed (or
 * response.incomplete) with the whole response. `finish` gives the final response object once known.
 */
export class ResponsesStreamTranslator {
  private sequence = 0
  private readonly output: Array<Json> = []
  private open: { kind: "message"; id: string; text: string } | { kind: "call"; id: string; call: Json } | null = null
  private text = ""
  private readonly calls: Array<Json> = []
  private finishReason: unknown = null
  private readonly echo: ResponseEcho

  constructor(echo: ResponseEcho) {
    this.echo = echo
  }

  private event(type: string, fields: Json): ResponseEvent {
    return { type, sequence_number: this.sequence++, ...fields }
  }

  start(): Array<ResponseEvent> {
    const response = responseObject(this.echo, "in_progress", [], null)
    return [this.event("response.created", { response }), this.event("response.in_progress", { response })]
  }

  private close(out: Array<ResponseEvent>) {
    const o = this.open
    if (o === null) return
    const output_index = this.output.length
    if (o.kind === "message") {
      const part = { type: "output_text", text: o.text, annotations: [], logprobs: [] }
      out.push(this.event("response.output_text.done", { item_id: o.id, output_index, content_index: 0, text: o.text, logprobs: [] }))
      out.push(this.event("response.content_part.done", { item_id: o.id, output_index, content_index: 0, part }))
      const item = messageItem(o.id, o.text, "completed")
      out.push(this.event("response.output_item.done", { output_index, item }))
      this.output.push(item)
    } else {
      out.push(this.event("response.function_call_arguments.done", { item_id: o.id, output_index, name: o.call.function.name, arguments: o.call.function.arguments }))
      const item = callItem(o.id, o.call, "completed")
      out.push(this.event("response.output_item.done", { output_index, item }))
      this.output.push(item)
    }
    this.open = null
  }

  push(chunkText: string): Array<ResponseEvent> {
    const out: Array<ResponseEvent> = []
    const choice = (JSON.parse(chunkText) as Json).choices?.[0]
    if (choice === undefined) return out
    const delta = choice.delta ?? {}
    if (typeof delta.content === "string" && delta.content !== "") {
      if (this.open?.kind !== "message") {
        this.close(out)
        const id = itemId("msg")
        this.open = { kind: "message", id, text: "" }
        out.push(this.event("response.output_item.added", { output_index: this.output.length, item: messageItem(id, "", "in_progress") }))
        out.push(this.event("response.content_part.added", { item_id: id, output_index: this.output.length, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } }))
      }
      this.open.text += delta.content
      this.text += delta.content
      out.push(this.event("response.output_text.delta", { item_id: this.open.id, output_index: this.output.length, content_index: 0, delta: delta.content, logprobs: [] }))
    }
    for (const d of delta.tool_calls ?? []) {
      if (typeof d.id === "string") {
        this.close(out)
        const call = { id: d.id, type: "function", function: { name: d.function?.name ?? "", arguments: "" } }
        this.calls.push(call)
        const id = itemId("fc")
        this.open = { kind: "call", id, call }
        out.push(this.event("response.output_item.added", { output_index: this.output.length, item: callItem(id, call, "in_progress") }))
      }
      const args = d.function?.arguments
      if (this.open?.kind === "call" && typeof args === "string" && args !== "") {
        this.open.call.function.arguments += args
        out.push(this.event("response.function_call_arguments.delta", { item_id: this.open.id, output_index: this.output.length, delta: args }))
      }
    }
    if (choice.finish_reason != null) this.finishReason = choice.finish_reason
    return out
  }

  /** The final response object (after the stream ended), and the assistant message for the conversation. */
  finish(usage: Usage): { readonly events: Array<ResponseEvent>; readonly response: Json; readonly assistant: Json } {
    const out: Array<ResponseEvent> = []
    this.close(out)
    if (this.output.length === 0) {
      // An empty answer is still one (empty) message, as the whole response has.
      const item = messageItem(itemId("msg"), "", "completed")
      out.push(this.event("response.output_item.added", { output_index: 0, item: messageItem(item.id, "", "in_progress") }))
      out.push(this.event("response.output_item.done", { output_index: 0, item }))
      this.output.push(item)
    }
    const status = this.finishReason === "length" ? "incomplete" : "completed"
    const response = responseObject(this.echo, status, this.output, usage)
    out.push(this.event(status === "completed" ? "response.completed" : "response.incomplete", { response }))
    const assistant = { role: "assistant", content: this.text === "" && this.calls.length > 0 ? null : this.text, ...(this.calls.length > 0 && { tool_calls: this.calls }) }
    return { events: out, response, assistant }
  }
}
