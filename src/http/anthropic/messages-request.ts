import { ApiError, invalidRequest } from "../../api/api-error.ts"

/**
 * An Anthropic Messages request as the OpenAI chat request the rest of the server serves (gateway,
 * router, served model, OpenAI-compatible upstreams): system, text and image blocks, tool_use and
 * tool_result blocks, tools and tool_choice, stop_sequences, metadata.user_id as the end user. A field or
 * block with no honest translation is refused by name (400), never dropped.
 */
type Json = Record<string, any>

/** Fields with a translation, or (the last ones) accepted with the values checked below. */
const KNOWN = new Set([
  "model", "max_tokens", "messages", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k", "tools", "tool_choice", "metadata",
  "thinking", "service_tier", "output_config", "cache_control", "speed",
  // Inferline's own (gateway) fields, as on chat.
  "tags", "cache", "guardrails"
])

const unsupported = (param: string, message: string) => invalidRequest(message, param, "unsupported_parameter")

const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x)

/** An image block as an OpenAI image part (base64 as a data URL); whether the model takes it is the path's business. */
const imagePart = (block: Json, param: string): Json | ApiError => {
  const source = block.source
  if (isObject(source) && source.type === "base64" && typeof source.data === "string" && typeof source.media_type === "string") {
    return { type: "image_url", image_url: { url: `data:${source.media_type};base64,${source.data}` } }
  }
  if (isObject(source) && source.type === "url" && typeof source.url === "string") return { type: "image_url", image_url: { url: source.url } }
  return invalidRequest(`${param}.source must be {type: "base64", media_type, data} or {type: "url", url}.`, `${param}.source`)
}

/** A tool_result's content as the tool message's text. */
const resultText = (content: unknown, param: string): string | ApiError => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return invalidRequest(`${param}.content must be a string or a list of text blocks.`, `${param}.content`)
  let text = ""
  for (let k = 0; k < content.length; k++) {
    const b: unknown = content[k]
    if (!isObject(b) || b.type !== "text" || typeof b.text !== "string") return unsupported(`${param}.content[${k}]`, `${param}.content[${k}]: only text blocks are supported in a tool_result.`)
    text += b.text
  }
  return text
}

/** One Anthropic message as OpenAI messages (a user turn with tool results becomes tool messages, then the rest). */
const translateMessage = (m: unknown, i: number): Array<Json> | ApiError => {
  const param = `messages[${i}]`
  if (!isObject(m) || (m.role !== "user" && m.role !== "assistant")) return invalidRequest(`${param} must be an object with role "user" or "assistant".`, `${param}.role`)
  for (const key of Object.keys(m)) if (key !== "role" && key !== "content") return unsupported(`${param}.${key}`, `${param}.${key} is not supported.`)
  if (typeof m.content === "string") return [{ role: m.role, content: m.content }]
  if (!Array.isArray(m.content)) return invalidRequest(`${param}.content must be a string or a list of content blocks.`, `${param}.content`)
  const parts: Array<Json> = [], calls: Array<Json> = [], results: Array<Json> = []
  for (let j = 0; j < m.content.length; j++) {
    const block: unknown = m.content[j]
    const at = `${param}.content[${j}]`
    if (!isObject(block) || typeof block.type !== "string") return invalidRequest(`${at} must be a content block with a type.`, at)
    if (block.type === "text" && typeof block.text === "string") parts.push({ type: "text", text: block.text })
    else if (block.type === "image" && m.role === "user") {
      const part = imagePart(block, at)
      if (part instanceof ApiError) return part
      parts.push(part)
    } else if (block.type === "tool_use" && m.role === "assistant" && typeof block.id === "string" && typeof block.name === "string") {
      calls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } })
    } else if (block.type === "tool_result" && m.role === "user" && typeof block.tool_use_id === "string") {
      const text = resultText(block.content, at)
      if (text instanceof ApiError) return text
      results.push({ role: "tool", tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text })
    } else return unsupported(`${at}.type`, `${at}: a ${m.role} block of type "${block.type}" is not supported (text, image, tool_use and tool_result are).`)
  }
  const content = parts.length === 1 && parts[0].type === "text" ? parts[0].text : parts
  if (m.role === "assistant") return [{ role: "assistant", content: parts.length === 0 ? null : content, ...(calls.length > 0 && { tool_calls: calls }) }]
  return parts.length === 0 ? results : [...results, { role: "user", content }]
}

const systemText = (system: unknown): string | ApiError => {
  if (typeof system === "string") return system
  if (!Array.isArray(system)) return invalidRequest("system must be a string or a list of text blocks.", "system")
  let text = ""
  for (let k = 0; k < system.length; k++) {
    const b: unknown = system[k]
    if (!isObject(b) || b.type !== "text" || typeof b.text !== "string") return invalidRequest(`system[${k}] must be a text block.`, `system[${k}]`)
    text += (k > 0 ? "\n" : "") + b.text
  }
  return text
}

const translateTools = (tools: unknown): Array<Json> | ApiError => {
  if (!Array.isArray(tools)) return invalidRequest("tools must be a list.", "tools")
  const out: Array<Json> = []
  for (let k = 0; k < tools.length; k++) {
    const t: unknown = tools[k]
    if (!isObject(t) || typeof t.name !== "string") return invalidRequest(`tools[${k}] must have a name.`, `tools[${k}].name`)
    if (t.type !== undefined && t.type !== "custom") return unsupported(`tools[${k}].type`, `tools[${k}]: server tools (type "${t.type}") are not supported; only client tools with an input_schema.`)
    if (!isObject(t.input_schema)) return invalidRequest(`tools[${k}].input_schema must be a JSON schema object.`, `tools[${k}].input_schema`)
    out.push({ type: "function", function: { name: t.name, ...(typeof t.description === "string" && { description: t.description }), parameters: t.input_schema } })
  }
  return out
}

const translateToolChoice = (choice: unknown): { readonly tool_choice: unknown; readonly parallel?: false } | ApiError => {
  if (!isObject(choice)) return invalidRequest("tool_choice must be an object with a type.", "tool_choice")
  const parallel = choice.disable_parallel_tool_use === true ? { parallel: false as const } : {}
  switch (choice.type) {
    case "auto":
      return { tool_choice: "auto", ...parallel }
    case "any":
      return { tool_choice: "required", ...parallel }
    case "none":
      return { tool_choice: "none" }
    case "tool":
      if (typeof choice.name !== "string") return invalidRequest("tool_choice of type tool needs the tool's name.", "tool_choice.name")
      return { tool_choice: { type: "function", function: { name: choice.name } }, ...parallel }
    default:
      return invalidRequest(`tool_choice.type must be auto, any, tool or none.`, "tool_choice.type")
  }
}

/** The first field the translation refuses, before anything else is looked at. */
const refusedField = (body: Json): ApiError | undefined => {
  for (const [key, value] of Object.entries(body)) {
    if (!KNOWN.has(key)) return unsupported(key, `Unsupported field: ${key}. This server does not support it (see the README's /v1/messages section).`)
    if (key === "thinking" && value != null && !(isObject(value) && value.type === "disabled")) return unsupported("thinking", "This model is not a reasoning model: thinking must be disabled or absent.")
    if (key === "service_tier" && value != null && value !== "auto" && value !== "standard_only") return unsupported("service_tier", "This server has one service tier: service_tier must be auto or standard_only.")
    if (key === "speed" && value != null && value !== "standard") return unsupported("speed", "This server has one speed: speed must be standard.")
    // A cache breakpoint changes nothing here: prefix caching is automatic for every prompt.
    if (key === "cache_control" && value != null && !(isObject(value) && value.type === "ephemeral")) return invalidRequest("cache_control must be {type: \"ephemeral\"}.", "cache_control")
    if (key === "output_config" && value != null) {
      if (!isObject(value)) return invalidRequest("output_config must be an object.", "output_config")
      for (const [k, v] of Object.entries(value)) {
        if (k === "effort" && v != null) return unsupported("output_config.effort", "This model is not a reasoning model: output_config.effort is not supported.")
        if (k !== "effort" && k !== "format") return unsupported(`output_config.${k}`, `output_config.${k} is not supported.`)
      }
      const format = value.format
      if (format != null && !(isObject(format) && format.type === "json_schema" && isObject(format.schema))) return invalidRequest("output_config.format must be {type: \"json_schema\", schema: {...}}.", "output_config.format")
    }
    if (key === "metadata" && value != null) {
      if (!isObject(value)) return invalidRequest("metadata must be an object.", "metadata")
      for (const k of Object.keys(value)) if (k !== "user_id") return unsupported(`metadata.${k}`, `metadata.${k} is not supported (only metadata.user_id).`)
    }
  }
  return undefined
}

/** What a count_tokens or messages request must have: a model, messages (and max_tokens unless counting). */
const requiredFields = (body: Json, counting: boolean): ApiError | undefined => {
  if (typeof body.model !== "string" || body.model === "") return invalidRequest("model: Field required (a model name).", "model")
  if (!counting && (typeof body.max_tokens !== "number" || !Number.isInteger(body.max_tokens) || body.max_tokens < 1)) return invalidRequest("max_tokens: Field required (an integer >= 1).", "max_tokens")
  if (!Array.isArray(body.messages) || body.messages.length === 0) return invalidRequest("messages: Field required (a non-empty list).", "messages")
  return undefined
}

/**
 * The chat request of a Messages request (`counting`: a count_tokens request, which has no max_tokens
 * and never streams). Streams ask for usage, which the message_start and message_delta events carry.
 */
export const toChatRequest = (json: unknown, counting = false): Json | ApiError => {
  if (!isObject(json)) return invalidRequest("The request body must be a JSON object.")
  const refused = refusedField(json) ?? requiredFields(json, counting)
  if (refused !== undefined) return refused
  const messages: Array<Json> = []
  if (json.system != null) {
    const system = systemText(json.system)
    if (system instanceof ApiError) return system
    messages.push({ role: "system", content: system })
  }
  for (let i = 0; i < json.messages.length; i++) {
    const translated = translateMessage(json.messages[i], i)
    if (translated instanceof ApiError) return translated
    messages.push(...translated)
  }
  const chat: Json = { model: json.model, messages }
  if (!counting) chat.max_tokens = json.max_tokens
  for (const key of ["temperature", "top_p", "top_k", "tags", "cache", "guardrails"]) if (json[key] != null) chat[key] = json[key]
  if (json.stop_sequences != null) chat.stop = json.stop_sequences
  if (json.metadata?.user_id != null) chat.user = json.metadata.user_id
  if (json.tools != null) {
    const tools = translateTools(json.tools)
    if (tools instanceof ApiError) return tools
    if (tools.length > 0) chat.tools = tools
  }
  if (json.tool_choice != null) {
    const choice = translateToolChoice(json.tool_choice)
    if (choice instanceof ApiError) return choice
    chat.tool_choice = choice.tool_choice
    if (choice.parallel === false) chat.parallel_tool_calls = false
  }
  // Structured outputs: the answer's text follows the schema (guided decoding on the served model).
  const format = json.output_config?.format
  if (format != null) chat.response_format = { type: "json_schema", json_schema: { name: "output", schema: format.schema, strict: true } }
  if (json.stream === true && !counting) Object.assign(chat, { stream: true, stream_options: { include_usage: true } })
  return chat
}
