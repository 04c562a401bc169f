import { Effect } from "effect"
import type { EngineInfo } from "../actors/engine.ts"
import type { ChatMessage as TemplateMessage, TextTokenizer } from "../engine/tokenizer.ts"
import type { ChatMessage, CompletionPrompt } from "./schemas.ts"
import { invalidRequest, modelNotFound, type ApiError } from "../api/api-error.ts"

/** A tokenized prompt, with its text when it was given as text (echo and logprob offsets need it). */
export interface Prompt {
  readonly tokenIds: ReadonlyArray<number>
  readonly text: string | null
}

/** A request naming a model must name the served one (vLLM also accepts a missing model). */
export const checkModel = (model: string | null | undefined, info: EngineInfo): Effect.Effect<void, ApiError> =>
  info.gatewayOnly === true
    ? Effect.fail(modelNotFound(model ?? "(none)"))
    : model == null || model === info.modelName ? Effect.void : Effect.fail(modelNotFound(model))

export const requireTokenizer = (info: EngineInfo, what: string): Effect.Effect<TextTokenizer, ApiError> =>
  info.tokenizer === null
    ? Effect.fail(invalidRequest(`This model has no tokenizer.json, so ${what} is not possible; send token ids instead.`))
    : Effect.succeed(info.tokenizer)

/** A message's text: a string, or the concatenated `text` parts of a content list. */
const messageText = (message: ChatMessage, index: number): Effect.Effect<string, ApiError> => {
  const content = message.content
  if (content == null) return Effect.succeed("")
  if (typeof content === "string") return Effect.succeed(content)
  let text = ""
  for (let i = 0; i < content.length; i++) {
    const part = content[i]
    if (part.type !== "text" || part.text === undefined) {
      return Effect.fail(invalidRequest(`Content part type '${part.type}' is not supported; this model takes only {"type": "text", "text": ...} parts.`, `messages[${index}].content[${i}]`))
    }
    text += part.text
  }
  return Effect.succeed(text)
}

/**
 * A message as the template gets it (Hugging Face's shape, as vLLM passes it): text content, the name,
 * an assistant's tool calls with `arguments` parsed into objects (templates render them with tojson),
 * a tool result's tool_call_id.
 */
const templateMessage: (message: ChatMessage, index: number) => Effect.Effect<TemplateMessage, ApiError> = Effect.fnUntraced(function*(message, index) {
  const content = yield* messageText(message, index)
  const calls = message.tool_calls ?? []
  const toolCalls: Array<unknown> = []
  for (let j = 0; j < calls.length; j++) {
    const c = calls[j]
    let args: unknown
    try {
      args = JSON.parse(c.function.arguments)
    } catch {
      return yield* invalidRequest(`messages[${index}].tool_calls[${j}].function.arguments is not valid JSON.`, `messages[${index}].tool_calls[${j}].function.arguments`)
    }
    toolCalls.push({ id: c.id, type: c.type, function: { name: c.function.name, arguments: args } })
  }
  return {
    role: message.role,
    content,
    ...(message.name !== undefined && { name: message.name }),
    ...(toolCalls.length > 0 && { tool_calls: toolCalls }),
    ...(message.tool_call_id !== undefined && { tool_call_id: message.tool_call_id })
  }
})

/**
 * Renders chat messages with the model's own chat template and tokenizes the result; `tools` (OpenAI
 * tool objects) are rendered by the template, which must support them (else they would be dropped).
 */
export const chatPrompt: (messages: ReadonlyArray<ChatMessage>, addGenerationPrompt: boolean, info: EngineInfo, tools?: ReadonlyArray<unknown>) => Effect.Effect<Prompt, ApiError> = Effect.fnUntraced(function*(messages, addGenerationPrompt, info, tools) {
  if (messages.length === 0) return yield* invalidRequest("'messages' must contain at least one message.", "messages")
  const tokenizer = yield* requireTokenizer(info, "chat")
  if (!tokenizer.hasChatTemplate) return yield* invalidRequest("This model has no chat template; use /v1/completions.", "messages")
  if (tools !== undefined && tools.length > 0 && !tokenizer.templateRendersTools) {
    return yield* invalidRequest("This model's chat template does not render tools, so the model would never see them.", "tools")
  }
  const rendered: Array<TemplateMessage> = []
  for (let i = 0; i < messages.length; i++) rendered.push(yield* templateMessage(messages[i], i))
  const text = yield* Effect.try({
    try: () => tokenizer.applyChatTemplate(rendered, addGenerationPrompt, tools),
    catch: (e) => invalidRequest(`The chat template could not render these messages: ${(e as Error).message}`, "messages")
  })
  // The template already wrote any special tokens it wants (as vLLM does, no second BOS).
  return { tokenIds: tokenizer.encode(text, false), text }
})

const isTokenIdList = (p: ReadonlyArray<unknown>): p is ReadonlyArray<number> => p.length > 0 && typeof p[0] === "number"

/** The prompts of a legacy completion request: each one becomes its own set of n choices. */
export const completionPrompts: (prompt: CompletionPrompt, info: EngineInfo) => Effect.Effect<ReadonlyArray<Prompt>, ApiError> = Effect.fnUntraced(function*(prompt, info) {
  const items: ReadonlyArray<string | ReadonlyArray<number>> = typeof prompt === "string" ? [prompt] : isTokenIdList(prompt) ? [prompt] : prompt
  if (items.length === 0) return yield* invalidRequest("'prompt' must not be empty.", "prompt")
  const prompts: Array<Prompt> = []
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    if (typeof item === "string") {
      const tokenizer = yield* requireTokenizer(info, "a text prompt")
      prompts.push({ tokenIds: tokenizer.encode(item, true), text: item })
    } else {
      const param = typeof prompt === "string" || isTokenIdList(prompt) ? "prompt" : `prompt[${i}]`
      if (item.length === 0) return yield* invalidRequest(`The prompt in '${param}' is empty (0 tokens).`, param)
      yield* checkTokenIds(item, info, param)
      prompts.push({ tokenIds: item, text: info.tokenizer === null ? null : info.tokenizer.decode(item, false) })
    }
  }
  return prompts
})

export const checkTokenIds = (ids: ReadonlyArray<number>, info: EngineInfo, param: string): Effect.Effect<void, ApiError> => {
  const vocab = info.config.vocabSize
  const bad = ids.find((t) => t < 0 || t >= vocab)
  return bad === undefined ? Effect.void : Effect.fail(invalidRequest(`Token id ${bad} in '${param}' is outside the vocabulary [0, ${vocab}).`, param))
}

/**
 * A request whose sequences (prompts × n) outnumber what the engine lets wait can never be served: it is
 * refused up front, naming the limit, rather than answered "overloaded" (which says: retry later).
 */
export const checkSequenceCount = (sequences: number, info: EngineInfo, param: string): Effect.Effect<void, ApiError> =>
  sequences <= info.maxWaitingRequests
    ? Effect.void
    : Effect.fail(invalidRequest(
      `This request asks for ${sequences} sequences (prompts × n); the engine lets at most ${info.maxWaitingRequests} wait at once (--max-waiting-requests).`,
      param,
      "too_many_sequences"
    ))

/** The prompt must leave room for at least one generated token within max_model_len. */
export const checkPromptLength = (prompt: Prompt, info: EngineInfo, param: string): Effect.Effect<void, ApiError> => {
  const n = prompt.tokenIds.length
  if (n === 0) return Effect.fail(invalidRequest(`The prompt in '${param}' is empty (0 tokens).`, param))
  if (n < info.maxModelLen) return Effect.void
  return Effect.fail(invalidRequest(
    `This model's maximum context length is ${info.maxModelLen} tokens. However, your request has ${n} input tokens, which leaves no room for output. Please reduce the length of the input.`,
    param,
    "context_length_exceeded"
  ))
}
