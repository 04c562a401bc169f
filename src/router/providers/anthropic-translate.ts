import { randomUUID } from "node:crypto"
import { unixSeconds } from "../../api/response-ids.ts"

/**
 * OpenAI chat ⇄ Anthropic Messages, both ways, as pure functions: the request, the whole response and
 * the SSE events. `cache_control` on content parts and messages is passed through untouched. Tools,
 * tool_choice (with parallel_tool_calls and allowed_tools), assistant tool calls and tool results map to
 * their Anthropic forms; response_format (json_schema, json_object) is honoured the way LiteLLM does it,
 * by a forced call of a tool whose input schema is the response's, whose input comes back as the
 * message content. A field with no Anthropic equivalent is refused (AnthropicRequestError), never dropped.
 */

type Json = Record<string, any>

/** A request field this translation cannot honour: the client's fault (a 400 naming `param`). */
export class AnthropicRequestError extends Error {
  readonly param: string
  constructor(message: string, param: string) {
    super(message)
    this.param = param
  }
}

/** The tool a response_format becomes: its input is the answer. */
export const RESPONSE_FORMAT_TOOL = "json_response"

/** OpenAI fields with an Anthropic translation (or none needed); any other non-null field is refused. */
const TRANSLATED = new Set(["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "stream", "stream_options", "user", "safety_identifier", "metadata", "tools", "tool_choice", "parallel_tool_calls", "response_format"])

/** Fields accepted with some values only: what they must be. */
const ACCEPTED_VALUES: Readonly<Record<string, (v: unknown) => boolean>> = {
  n: (v) => v === 1,
  store: (v) => v === false,
  service_tier: (v) => v === "auto" || v === "default",
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === "text",
  logprobs: (v) => v === false
}

const checkFields = (body: Json): void => {
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined || TRANSLATED.has(key)) continue
    const accepts = ACCEPTED_VALUES[key]
    if (accepts !== undefined && accepts(value)) continue
    throw new AnthropicRequestError(`${key} is not supported by Anthropic deployments${accepts === undefined ? "" : ` with the value ${JSON.stringify(value)}`}.`, key)
  }
  const options = body.stream_options
  if (options != null) {
    for (const [key, value] of Object.entries(options as Json)) {
      if (key !== "include_usage" && !(key === "include_obfuscation" && value === false)) throw new AnthropicRequestError(`stream_options.${key} is not supported by Anthropic deployments.`, `stream_options.${key}`)
    }
  }
}

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

const parseArguments = (text: unknown, param: string) => {
  if (text === undefined || text === null || text === "") return {}
  try {
    if (typeof text === "string") return JSON.parse(text)
  } catch {
    // refused below
  }
  throw new AnthropicRequestError(`${param} is not valid JSON.`, param)
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

/** The tools and tool_choice Anthropic gets: from tools/tool_choice/parallel_tool_calls, or from a response_format. */
const toolsOf = (body: Json): Json => {
  const rf = body.response_format
  const responseSchema = rf == null || rf.type === "text" ? undefined
    : rf.type === "json_object" ? { type: "object" }
    : rf.type === "json_schema" ? rf.json_schema?.schema
    : null
  if (responseSchema === null) throw new AnthropicRequestError(`response_format.type ${JSON.stringify(rf.type)} is not supported.`, "response_format.type")
  const tools = Array.isArray(body.tools) ? (body.tools as Array<Json>) : []
  if (responseSchema !== undefined) {
    if (tools.length > 0) throw new AnthropicRequestError("response_format together with tools is not supported by Anthropic deployments.", "response_format")
    if (typeof responseSchema !== "object" || (responseSchema as Json).type !== "object") throw new AnthropicRequestError("On Anthropic deployments a response_format schema must describe an object (type: object).", "response_format.json_schema.schema")
    return { tools: [{ name: RESPONSE_FORMAT_TOOL, description: "Give the answer as this tool's input.", input_schema: responseSchema }], tool_choice: { type: "tool", name: RESPONSE_FORMAT_TOOL } }
  }
  if (tools.length === 0) return {}
  let allowed: ReadonlySet<string> | null = null
  const choice = body.tool_choice
  let anthropicChoice: Json | undefined
  if (choice === "required") anthropicChoice = { type: "any" }
  else if (choice === "none") anthropicChoice = { type: "none" }
  else if (choice === "auto" || choice == null) anthropicChoice = body.parallel_tool_calls === false ? { type: "auto" } : undefined
  else if (choice.type === "function" && typeof choice.function?.name === "string") anthropicChoice = { type: "tool", name: choice.function.name }
  else if (choice.type === "allowed_tools" && Array.isArray(choice.allowed_tools?.tools)) {
    // Anthropic has no subset choice: only the allowed tools are sent.
    allowed = new Set((choice.allowed_tools.tools as Array<Json>).map((t) => t.function?.name))
    anthropicChoice = choice.allowed_tools.mode === "required" ? { type: "any" } : body.parallel_tool_calls === false ? { type: "auto" } : undefined
  } else throw new AnthropicRequestError(`tool_choice ${JSON.stringify(choice)} is not supported by Anthropic deployments.`, "tool_choice")
  if (anthropicChoice !== undefined && body.parallel_tool_calls === false && anthropicChoice.type !== "none") anthropicChoice.disable_parallel_tool_use = true
  return {
    tools: tools.filter((t) => allowed === null || allowed.has(t.function?.name)).map((t, i) => {
      if (t.type !== "function") throw new AnthropicRequestError("Only function tools are supported by Anthropic deployments.", `tools[${i}].type`)
      return {
        name: t.function?.name,
        description: t.function?.description,
        input_schema: t.function?.parameters ?? { type: "object", properties: {} },
        ...(t.cache_control && { cache_control: t.cache_control })
      }
    }),
    ...(anthropicChoice !== undefined && { tool_choice: anthropicChoice })
  }
}

export const toAnthropicRequest = (body: Json, model: string, stream: boolean): Json => {
  checkFields(body)
  const system: Array<Json> = []
  const messages: Array<Json> = []
  const sent = (body.messages ?? []) as Array<Json>
  for (let i = 0; i < sent.length; i++) {
    const m = sent[i]
    if (m.role === "system" || m.role === "developer") {
      const blocks = toBlocks(m.content, m.cache_control)
      system.push(...(typeof blocks === "string" ? [{ type: "text", text: blocks }] : blocks))
    } else if (m.role === "tool") {
      pushMessage(messages, "user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: textOf(m.content) }])
    } else if (m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const text = textOf(m.content)
      pushMessage(messages, "assistant", [
        ...(text !== "" ? [{ type: "text", text }] : []),
        ...m.tool_calls.map((c: Json, j: number) => ({ type: "tool_use", id: c.id, name: c.function?.name, input: parseArguments(c.function?.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) }))
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
    ...(stream && { stream: true }),
    ...toolsOf(body)
  }
  return out
}

/** Whether the request's answer comes back as the response-format tool's input (see toolsOf). */
export const answersThroughTool = (body: Json): boolean => body.response_format != null && body.response_format.type !== "text"

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

export const toOpenAiResponse = (r: Json, model: string, answerTool = false) => {
  const blocks = (r.content ?? []) as Array<Json>
  if (answerTool) {
    // The response_format tool's input is the answer (see toolsOf).
    const answer = blocks.find((b) => b.type === "tool_use" && b.name === RESPONSE_FORMAT_TOOL)
    const text = answer === undefined ? textOf(blocks) : JSON.stringify(answer.input ?? {})
    return {
      id: `chatcmpl-${r.id ?? randomUUID()}`,
      object: "chat.completion",
      created: unixSeconds(),
      model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: r.stop_reason === "tool_use" ? "stop" : finishReason(r.stop_reason) }],
      usage: toOpenAiUsage(r.usage ?? {})
    }
  }
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
  /** Content blocks that are the response_format tool's input: their JSON is the answer's content. */
  private readonly answerBlocks = new Set<number>()
  /** Whether message_stop has come: a stream that ends before it was cut short. */
  stopped = false
  readonly model: string
  readonly includeUsage: boolean
  /** The answer comes as the response_format tool's input (answersThroughTool). */
  readonly answerTool: boolean

  constructor(model: string, includeUsage: boolean, answerTool = false) {
    this.model = model
    this.includeUsage = includeUsage
    this.answerTool = answerTool
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
        if (block.type === "tool_use" && this.answerTool && block.name === RESPONSE_FORMAT_TOOL) {
          this.answerBlocks.add(event.index)
          return []
        }
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
        if (d.type === "input_json_delta" && this.answerBlocks.has(event.index)) return d.partial_json ? [this.chunk({ content: d.partial_json })] : []
        if (d.type === "input_json_delta") {
          return [this.chunk({ tool_calls: [{ index: this.toolIndex.get(event.index) ?? 0, function: { arguments: d.partial_json } }] })]
        }
        return []
      }
      case "message_delta":
        this.usage = { ...this.usage, ...event.usage }
        if (!event.delta?.stop_reason) return []
        return [this.chunk({}, this.answerTool && event.delta.stop_reason === "tool_use" ? "stop" : finishReason(event.delta.stop_reason))]
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
