import { invalidRequest, type ApiError } from "../api/api-error.ts"

/**
 * No request field is silently dropped on the served model's path: a field the endpoint does not know
 * is a 400 naming it (as OpenAI answers "Unrecognized request argument supplied"), and a known field
 * whose value asks for something this server cannot do (audio output, stored completions, a reasoning
 * effort...) is a 400 saying so. Fields that change nothing here by their nature (user, metadata
 * without store, prompt_cache_key: prefix caching is automatic) are accepted, as README's table says.
 */

/** A field's value this server can honour; otherwise `message` explains the 400. */
interface FieldRule {
  readonly accepts: (value: unknown) => boolean
  readonly message: string
}

const never = (message: string): FieldRule => ({ accepts: (v) => v === null || v === undefined, message })

/** OpenAI chat fields (and deprecated ones) the served model cannot honour, with why. */
const REFUSED: ReadonlyMap<string, FieldRule> = new Map([
  ["audio", never("Audio output is not supported: this model generates text only.")],
  ["prediction", never("Predicted outputs are not supported.")],
  ["web_search_options", never("Web search is not supported.")],
  ["reasoning_effort", never("This model is not a reasoning model: reasoning_effort is not supported.")],
  ["verbosity", never("verbosity is not supported by this model.")],
  ["moderation", never("Moderation is not supported by this server.")],
  ["prompt_cache_options", never("prompt_cache_options is not supported: prefix caching here is automatic and in memory.")],
  ["functions", never("The deprecated functions parameter is not supported; send tools instead.")],
  ["function_call", never("The deprecated function_call parameter is not supported; send tool_choice instead.")]
])

/** Known fields whose every value is not honourable: what is accepted. */
const CONDITIONAL: ReadonlyMap<string, FieldRule> = new Map([
  ["store", { accepts: (v) => v == null || v === false, message: "Stored completions are not supported: store must be false." }],
  ["service_tier", { accepts: (v) => v == null || v === "auto" || v === "default", message: "This server has one service tier: service_tier must be auto or default." }],
  ["modalities", { accepts: (v) => v == null || (Array.isArray(v) && v.length === 1 && v[0] === "text"), message: "This model generates text only: modalities must be [\"text\"]." }],
  ["prompt_cache_retention", { accepts: (v) => v == null || v === "in_memory", message: "The prefix cache lives in memory: prompt_cache_retention must be in_memory." }]
])

const isObject = (x: unknown): x is Readonly<Record<string, unknown>> => typeof x === "object" && x !== null && !Array.isArray(x)

/**
 * The first field of `body` the served model cannot honour, as a 400 naming it; `known` are the
 * endpoint's fields (its request schema's). Checked before decoding, on the raw body.
 */
export const unhonouredField = (body: Readonly<Record<string, unknown>>, known: ReadonlySet<string>): ApiError | undefined => {
  for (const [key, value] of Object.entries(body)) {
    const refused = REFUSED.get(key)
    if (refused !== undefined) {
      if (refused.accepts(value)) continue
      return invalidRequest(refused.message, key, "unsupported_parameter")
    }
    if (!known.has(key)) return invalidRequest(`Unrecognized request argument supplied: ${key}. This server does not support it (see the README's request parameters).`, key, "unsupported_parameter")
    const rule = CONDITIONAL.get(key)
    if (rule !== undefined && !rule.accepts(value)) return invalidRequest(rule.message, key, "unsupported_parameter")
  }
  const options = body.stream_options
  if (isObject(options)) {
    for (const key of Object.keys(options)) {
      if (key !== "include_usage" && key !== "include_obfuscation") return invalidRequest(`Unrecognized argument stream_options.${key}.`, `stream_options.${key}`, "unsupported_parameter")
    }
    if (options.include_obfuscation === true) return invalidRequest("Stream obfuscation is not supported: include_obfuscation must be false.", "stream_options.include_obfuscation", "unsupported_parameter")
  }
  if (body.best_of != null && body.best_of !== 1 && body.best_of !== (body.n ?? 1)) {
    return invalidRequest("best_of is not supported: it must equal n.", "best_of", "unsupported_parameter")
  }
  if (typeof body.suffix === "string" && body.suffix !== "") return invalidRequest("suffix is not supported (no fill-in-the-middle).", "suffix", "unsupported_parameter")
  return undefined
}

/** Message fields by role, beyond role and content. */
const MESSAGE_FIELDS: Readonly<Record<string, ReadonlyArray<string>>> = {
  system: ["name"],
  developer: ["name"],
  user: ["name"],
  assistant: ["name", "tool_calls", "refusal"],
  tool: ["tool_call_id"]
}

/** A message field the template cannot render (an unknown role, audio, a deprecated function_call...), as a 400. */
export const unhonouredMessageField = (messages: unknown): ApiError | undefined => {
  if (!Array.isArray(messages)) return undefined
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i]
    if (!isObject(m) || typeof m.role !== "string") continue
    const allowed = MESSAGE_FIELDS[m.role]
    if (allowed === undefined) {
      return invalidRequest(`messages[${i}] has role '${m.role}'; supported roles are ${Object.keys(MESSAGE_FIELDS).join(", ")}.`, `messages[${i}].role`)
    }
    for (const [key, value] of Object.entries(m)) {
      if (key === "role" || key === "content" || allowed.includes(key)) continue
      if (value === null && key !== "audio") continue
      return invalidRequest(`messages[${i}].${key} is not supported for a ${m.role} message.`, `messages[${i}].${key}`, "unsupported_parameter")
    }
    if (m.role === "tool" && typeof m.tool_call_id !== "string") return invalidRequest(`messages[${i}] (a tool message) needs the tool_call_id it answers.`, `messages[${i}].tool_call_id`)
    if (Array.isArray(m.tool_calls)) {
      for (let j = 0; j < m.tool_calls.length; j++) {
        const c: unknown = m.tool_calls[j]
        if (isObject(c) && c.type !== "function") return invalidRequest(`messages[${i}].tool_calls[${j}] has type ${JSON.stringify(c.type)}; only function calls are supported.`, `messages[${i}].tool_calls[${j}].type`)
      }
    }
  }
  return undefined
}
