import { randomUUID } from "node:crypto"
import { ApiError, invalidRequest } from "../../api/api-error.ts"

/**
 * A Responses API request as the chat request the rest of the server serves: `instructions` as the
 * system message, input items (messages, function_call, function_call_output) as chat messages, function
 * tools, tool_choice, text.format as response_format. Its input items get ids (input_items lists them).
 * A field, item or tool with no honest translation is refused by name (400 unsupported_parameter).
 */
type Json = Record<string, any>

export const itemId = (prefix: string) => `${prefix}_${randomUUID().replaceAll("-", "")}`

const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x)
const unsupported = (param: string, message: string) => invalidRequest(message, param, "unsupported_parameter")

/** Fields with a translation; the rest of KNOWN is checked value by value in `refusedField`. */
const KNOWN = new Set([
  "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice", "parallel_tool_calls", "text", "stream",
  "store", "previous_response_id", "metadata", "user", "safety_identifier", "prompt_cache_key", "service_tier", "truncation", "include", "reasoning",
  "background", "stream_options", "tags", "cache", "guardrails"
])

const refusedField = (body: Json): ApiError | undefined => {
  for (const [key, value] of Object.entries(body)) {
    if (!KNOWN.has(key)) return unsupported(key, `Unrecognized request argument supplied: ${key}. This server does not support it (see the README's /v1/responses section).`)
    if (value == null) continue
    if (key === "service_tier" && value !== "auto" && value !== "default") return unsupported(key, "This server has one service tier: service_tier must be auto or default.")
    if (key === "truncation" && value !== "disabled") return unsupported(key, "truncation must be disabled: a conversation longer than the context is refused, not cut.")
    if (key === "include" && !(Array.isArray(value) && value.length === 0)) return unsupported(key, "include is not supported (no reasoning, search or logprob extras).")
    if (key === "reasoning") return unsupported(key, "This model is not a reasoning model: reasoning is not supported.")
    if (key === "background" && value !== false) return unsupported(key, "Background responses are not supported: background must be false.")
    if (key === "stream_options" && !(isObject(value) && Object.keys(value).every((k) => k === "include_obfuscation") && value.include_obfuscation !== true)) {
      return unsupported(key, "stream_options: only include_obfuscation false is supported.")
    }
    if (key === "text" && (!isObject(value) || Object.keys(value).some((k) => k !== "format" && !(k === "verbosity" && (value.verbosity === null || value.verbosity === "medium"))))) {
      return unsupported("text", "text: only format is supported (verbosity medium).")
    }
  }
  return undefined
}

/** A message's content as chat content (text, or text and image parts). */
const messageContent = (content: unknown, param: string): string | Array<Json> | ApiError => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return invalidRequest(`${param} must be a string or a list of content parts.`, param)
  const parts: Array<Json> = []
  for (let k = 0; k < content.length; k++) {
    const p: unknown = content[k]
    const at = `${param}[${k}]`
    if (isObject(p) && (p.type === "input_text" || p.type === "output_text") && typeof p.text === "string") parts.push({ type: "text", text: p.text })
    else if (isObject(p) && p.type === "input_image" && typeof p.image_url === "string") parts.push({ type: "image_url", image_url: { url: p.image_url } })
    else return unsupported(`${at}.type`, `${at}: content of type ${JSON.stringify(isObject(p) ? p.type : p)} is not supported (input_text, output_text, input_image with image_url).`)
  }
  return parts.length === 1 && parts[0].type === "text" ? parts[0].text : parts
}

const ROLES = new Set(["user", "system", "developer", "assistant"])

/** The output text of a function call's result. */
const outputText = (output: unknown, param: string): string | ApiError => {
  if (typeof output === "string") return output
  const content = messageContent(output, param)
  if (content instanceof ApiError) return content
  return typeof content === "string" ? content : content.map((p) => p.text ?? "").join("")
}

export interface TranslatedInput {
  /** Chat messages of this request's input (after the previous response's conversation). */
  readonly messages: Array<Json>
  /** The input items as stored and listed, each with an id. */
  readonly items: Array<Json>
}

/** The input (a string or a list of items) as chat messages and listed items. */
export const translateInput = (input: unknown): TranslatedInput | ApiError => {
  if (typeof input === "string") return { messages: [{ role: "user", content: input }], items: [{ id: itemId("msg"), type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: input }] }] }
  if (!Array.isArray(input) || input.length === 0) return invalidRequest("input must be a string or a non-empty list of input items.", "input")
  const messages: Array<Json> = [], items: Array<Json> = []
  for (let i = 0; i < input.length; i++) {
    const item: unknown = input[i]
    const param = `input[${i}]`
    if (!isObject(item)) return invalidRequest(`${param} must be an input item object.`, param)
    const type = item.type ?? (item.role !== undefined ? "message" : undefined)
    if (type === "message") {
      if (!ROLES.has(item.role)) return invalidRequest(`${param}.role must be user, system, developer or assistant.`, `${param}.role`)
      const content = messageContent(item.content, `${param}.content`)
      if (content instanceof ApiError) return content
      messages.push({ role: item.role, content })
      const parts = typeof item.content === "string" ? [{ type: item.role === "assistant" ? "output_text" : "input_text", text: item.content }] : item.content
      items.push({ id: typeof item.id === "string" ? item.id : itemId("msg"), type: "message", role: item.role, status: "completed", content: parts })
    } else if (type === "function_call") {
      if (typeof item.call_id !== "string" || typeof item.name !== "string" || typeof item.arguments !== "string") return invalidRequest(`${param} needs call_id, name and arguments (a JSON string).`, param)
      const call = { id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } }
      // Calls of one turn belong to one assistant message (after its text, if the turn had some).
      const last = messages[messages.length - 1]
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call]
      else messages.push({ role: "assistant", content: null, tool_calls: [call] })
      items.push({ id: typeof item.id === "string" ? item.id : itemId("fc"), type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments, status: "completed" })
    } else if (type === "function_call_output") {
      if (typeof item.call_id !== "string") return invalidRequest(`${param}.call_id is required.`, `${param}.call_id`)
      const output = outputText(item.output, `${param}.output`)
      if (output instanceof ApiError) return output
      messages.push({ role: "tool", tool_call_id: item.call_id, content: output })
      items.push({ id: typeof item.id === "string" ? item.id : itemId("fco"), type: "function_call_output", call_id: item.call_id, output: item.output, status: "completed" })
    } else return unsupported(`${param}.type`, `${param}: input items of type ${JSON.stringify(type)} are not supported (message, function_call, function_call_output).`)
  }
  return { messages, items }
}

const translateTools = (tools: unknown): Array<Json> | ApiError => {
  if (!Array.isArray(tools)) return invalidRequest("tools must be a list.", "tools")
  const out: Array<Json> = []
  for (let k = 0; k < tools.length; k++) {
    const t: unknown = tools[k]
    if (!isObject(t) || t.type !== "function") return unsupported(`tools[${k}].type`, `tools[${k}]: only function tools are supported (no built-in tools such as web_search or file_search).`)
    if (typeof t.name !== "string") return invalidRequest(`tools[${k}].name is required.`, `tools[${k}].name`)
    out.push({
      type: "function",
      function: { name: t.name, ...(typeof t.description === "string" && { description: t.description }), parameters: t.parameters ?? { type: "object", properties: {} }, ...(typeof t.strict === "boolean" && { strict: t.strict }) }
    })
  }
  return out
}

const translateToolChoice = (choice: unknown): unknown | ApiError => {
  if (choice === "auto" || choice === "none" || choice === "required") return choice
  if (isObject(choice) && choice.type === "function" && typeof choice.name === "string") return { type: "function", function: { name: choice.name } }
  return unsupported("tool_choice", "tool_choice must be auto, none, required or {type: \"function\", name}.")
}

const responseFormat = (format: unknown): Json | undefined | ApiError => {
  if (format == null) return undefined
  if (!isObject(format)) return invalidRequest("text.format must be an object.", "text.format")
  if (format.type === "text") return undefined
  if (format.type === "json_object") return { type: "json_object" }
  if (format.type === "json_schema" && isObject(format.schema)) {
    return { type: "json_schema", json_schema: { name: typeof format.name === "string" ? format.name : "output", schema: format.schema, ...(typeof format.strict === "boolean" && { strict: format.strict }) } }
  }
  return invalidRequest("text.format must be {type: text}, {type: json_object} or {type: json_schema, name, schema}.", "text.format")
}

/**
 * The chat request of a Responses request, given the conversation so far (`prior`: a previous
 * response's, [] without one). Returns it with the input translated (for storing).
 */
export const toChatRequest = (json: Json, prior: ReadonlyArray<unknown>): { readonly chat: Json; readonly input: TranslatedInput } | ApiError => {
  const refused = refusedField(json)
  if (refused !== undefined) return refused
  if (json.instructions != null && typeof json.instructions !== "string") return invalidRequest("instructions must be a string.", "instructions")
  const input = translateInput(json.input)
  if (input instanceof ApiError) return input
  // Instructions are this request's only: a previous response's are not carried over (as OpenAI does).
  const messages = [...(typeof json.instructions === "string" ? [{ role: "system", content: json.instructions }] : []), ...prior, ...input.messages]
  const chat: Json = { ...(json.model != null && { model: json.model }), messages }
  if (json.max_output_tokens != null) chat.max_tokens = json.max_output_tokens
  for (const key of ["temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier", "prompt_cache_key", "tags", "cache", "guardrails"]) if (json[key] != null) chat[key] = json[key]
  if (json.tools != null) {
    const tools = translateTools(json.tools)
    if (tools instanceof ApiError) return tools
    if (tools.length > 0) chat.tools = tools
  }
  if (json.tool_choice != null) {
    const choice = translateToolChoice(json.tool_choice)
    if (choice instanceof ApiError) return choice
    chat.tool_choice = choice
  }
  const format = responseFormat(json.text?.format)
  if (format instanceof ApiError) return format
  if (format !== undefined) chat.response_format = format
  if (json.stream === true) Object.assign(chat, { stream: true, stream_options: { include_usage: true } })
  return { chat, input }
}
