import { Effect, Stream } from "effect"
import { HttpRouter } from "effect/http"
import { Engine, type GenerateRequest } from "../actors/engine.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import { decodeJson } from "./body.ts"
import { chatLogprobs, tokenRenderer, vllmPromptLogprobs, type ChatTokenLogprob, type TokenRenderer } from "./logprobs.ts"
import { chatPrompt, checkModel, checkPromptLength, checkSequenceCount } from "./prompt.ts"
import { toSamplingParams } from "./sampling.ts"
import { ChatCompletionRequest } from "./schemas.ts"
import { handleRoutedRequest, type RoutedEndpoint } from "./routed-request.ts"
import { unhonouredField, unhonouredMessageField } from "./request-fields.ts"
import { compileGuided, guidedRequestOf } from "./structured-output.ts"
import { ToolCallParser, type ToolCall } from "./tool-call-parser.ts"
import { planTools } from "./tool-choice.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { orErrorResponse } from "./errors.ts"
import { kvTransferOf, kvTransferResponse } from "./kv-transfer-fields.ts"
import type { PromptDelta } from "../actors/engine-client.ts"
import { responseId, unixSeconds } from "../api/response-ids.ts"
import type { UsageMeter } from "../api/usage-meter.ts"

/** A validated chat request, ready to hand to the engine. */
export interface PreparedChat {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly n: number
  readonly generate: GenerateRequest
  readonly render: TokenRenderer
  readonly wantsLogprobs: boolean
  readonly includeUsage: boolean
  /** The answer is read for tool calls (tools given, tool_choice not none). */
  readonly parsesToolCalls: boolean
}

/** Validates a chat request against the served model: template, context length, sampling params. */
export const prepareChat = Effect.fnUntraced(function*(request: ChatCompletionRequest) {
  const engine = yield* Engine
  const info = engine.info
  yield* checkModel(request.model, info)
  if ((request.top_logprobs ?? 0) > 0 && request.logprobs !== true) {
    return yield* invalidRequest("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
  }
  const tools = yield* planTools(request)
  const guidedRequest = yield* guidedRequestOf(request, tools)
  const prompt = yield* chatPrompt(request.messages, request.add_generation_prompt ?? true, info, tools?.rendered)
  yield* checkPromptLength(prompt, info, "messages")
  const guided = guidedRequest === null ? null : yield* compileGuided(guidedRequest, info)
  const params = yield* toSamplingParams({
    fields: request,
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? null,
    maxTokensParam: request.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
    logprobs: request.logprobs === true ? request.top_logprobs ?? 0 : null,
    promptLogprobs: request.prompt_logprobs ?? null,
    promptTokens: prompt.tokenIds.length,
    guided
  }, info)
  yield* checkSequenceCount(params.n, info, "n")
  const kvTransfer = yield* kvTransferOf(request, 1)
  return {
    id: responseId("chatcmpl"),
    created: unixSeconds(),
    model: info.modelName,
    n: params.n,
    generate: { promptTokenIds: prompt.tokenIds, params, priority: request.priority ?? undefined, cacheSalt: request.cache_salt ?? null, speculate: request.speculative_decoding ?? undefined, kvTransfer },
    render: tokenRenderer(info.tokenizer, request.return_tokens_as_token_ids ?? false),
    wantsLogprobs: params.logprobs !== null,
    includeUsage: request.stream_options?.include_usage ?? false,
    parsesToolCalls: tools?.parse ?? false
  } satisfies PreparedChat
})

/** The whole response of a non-streaming chat request. */
export const chatCompletion = <E>(chat: PreparedChat, deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter) => chatCompletionOf(chat, deltas, meter) as Effect.Effect<ChatCompletion, E>

/** The response object of a chat completion. */
type ChatCompletion = Effect.Success<ReturnType<typeof chatCompletionOf>>

// Not generic itself: a generator made once (see bench/scavenge-survivors.ts); `chatCompletion` puts the error type back.
const chatCompletionOf = Effect.fnUntraced(function*(chat: PreparedChat, deltas: Stream.Stream<PromptDelta, unknown>, meter: UsageMeter) {
  const choices = Array.from({ length: chat.n }, () => ({
    content: "",
    logprobs: [] as Array<ChatTokenLogprob>,
    finishReason: null as string | null,
    stopReason: null as string | number | null
  }))
  let promptLogprobs: unknown = null
  let kvTransferId: string | undefined
  yield* Stream.runForEach(deltas, (d) =>
    Effect.sync(() => {
      const c = choices[d.index]
      kvTransferId ??= d.kvTransferId
      c.content += d.text
      if (d.logprobs !== null) c.logprobs.push(...chatLogprobs(chat.render, d.logprobs))
      if (d.promptLogprobs !== null && promptLogprobs === null) promptLogprobs = vllmPromptLogprobs(chat.render, d.promptLogprobs)
      if (d.finishReason !== null) {
        c.finishReason = d.finishReason
        c.stopReason = d.stopReason
      }
    })
  )
  return {
    id: chat.id,
    object: "chat.completion",
    created: chat.created,
    model: chat.model,
    choices: choices.map((c, index) => {
      const { message, finishReason } = assistantMessage(chat, c.content, c.finishReason)
      return { index, message, logprobs: chat.wantsLogprobs ? { content: c.logprobs } : null, finish_reason: finishReason, stop_reason: c.stopReason }
    }),
    usage: meter.usage,
    ...(promptLogprobs !== null && { prompt_logprobs: promptLogprobs }),
    ...kvTransferResponse(kvTransferId)
  }
})

/** OpenAI's finish reason for an answer that called tools and then stopped. */
const finishWithCalls = (finishReason: string | null, calls: number): string | null => (finishReason === "stop" && calls > 0 ? "tool_calls" : finishReason)

/**
 * The assistant message of a whole answer: its text, or, when tool calls are parsed, the text before
 * them (null when there is none) and the calls, through the same parser the stream uses.
 */
const assistantMessage = (chat: PreparedChat, text: string, finishReason: string | null) => {
  if (!chat.parsesToolCalls) return { message: { role: "assistant", content: text }, finishReason }
  const parser = new ToolCallParser()
  const content = parser.push(text).content + parser.end().content
  const calls: ReadonlyArray<ToolCall> = parser.calls
  return {
    message: { role: "assistant", content: content === "" && calls.length > 0 ? null : content, ...(calls.length > 0 && { tool_calls: calls }) },
    finishReason: finishWithCalls(finishReason, calls.length)
  }
}

/**
 * The chunk stream of a streaming chat request, as OpenAI sends it: per choice a first chunk with
 * `role: "assistant"` and empty content, then content chunks as the engine releases text, then a chunk
 * with an empty delta and the finish_reason; with include_usage every chunk has `usage: null` and a
 * last chunk carries the usage with `choices: []`. Choices of n > 1 interleave by index.
 */
export const chatChunks = <E>(chat: PreparedChat, deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter): Stream.Stream<unknown, E> => {
  const chunk = (choices: ReadonlyArray<unknown>) => ({
    id: chat.id,
    object: "chat.completion.chunk",
    created: chat.created,
    model: chat.model,
    choices,
    ...(chat.includeUsage && { usage: null })
  })
  const roleChunks = Array.from({ length: chat.n }, (_, index) =>
    chunk([{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]))
  const body = deltas.pipe(
    // Per choice, the tool-call parser when the answer is read for calls.
    Stream.mapAccum(() => (chat.parsesToolCalls ? Array.from({ length: chat.n }, () => new ToolCallParser()) : null), (parsers, d) => {
      const out: Array<unknown> = []
      const parser = parsers === null ? null : parsers[d.index]
      let piece = parser === null ? { content: d.text, toolCalls: [] as ReadonlyArray<unknown> } : parser.push(d.text)
      if (parser !== null && d.finishReason !== null) {
        const rest = parser.end()
        piece = { content: piece.content + rest.content, toolCalls: piece.toolCalls }
      }
      const hasTokens = chat.wantsLogprobs && d.logprobs !== null && d.logprobs.length > 0
      let logprobs = chat.wantsLogprobs ? { content: d.logprobs === null ? [] : chatLogprobs(chat.render, d.logprobs) } : null
      // The delta's tokens' logprobs ride on its first chunk, whatever the text turned out to be.
      if (piece.content !== "" || (hasTokens && piece.toolCalls.length === 0)) {
        out.push(chunk([{ index: d.index, delta: { content: piece.content }, logprobs, finish_reason: null }]))
        logprobs = chat.wantsLogprobs ? { content: [] } : null
      }
      for (const call of piece.toolCalls) {
        out.push(chunk([{ index: d.index, delta: { tool_calls: [call] }, logprobs, finish_reason: null }]))
        logprobs = chat.wantsLogprobs ? { content: [] } : null
      }
      if (d.finishReason !== null) {
        const finishReason = parser === null ? d.finishReason : finishWithCalls(d.finishReason, parser.calls.length)
        out.push(chunk([{ index: d.index, delta: {}, logprobs: null, finish_reason: finishReason, stop_reason: d.stopReason }]))
      }
      return [parsers, out] as const
    }, {
      // The meter has counted every delta by now (it is fed before they reach this stream).
      onHalt: () => (chat.includeUsage ? [{ id: chat.id, object: "chat.completion.chunk", created: chat.created, model: chat.model, choices: [], usage: meter.usage }] : [])
    })
  )
  return Stream.concat(Stream.fromIterable(roleChunks), body)
}

const CHAT_FIELDS: ReadonlySet<string> = new Set(Object.keys(ChatCompletionRequest.fields))

/** The raw body's fields and message fields, before decoding (which would drop unknown ones). */
const checkChatFields = (json: unknown): Effect.Effect<unknown, ApiError> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return Effect.succeed(json)
  const body = json as Readonly<Record<string, unknown>>
  const error = unhonouredField(body, CHAT_FIELDS) ?? unhonouredMessageField(body.messages)
  return error === undefined ? Effect.succeed(json) : Effect.fail(error)
}

/** A chat request for the served model: its fields checked, validated, tokenized, with its way of turning deltas into an answer. */
const prepareLocalChat = (json: unknown) =>
  Effect.map(Effect.flatMap(Effect.flatMap(checkChatFields(json), (body) => decodeJson(ChatCompletionRequest, body)), (request) => prepareChat({ ...request, model: null })), (chat): LocalRequest => ({
    generates: [chat.generate],
    response: (deltas, meter) => chatCompletion(chat, deltas, meter),
    chunks: (deltas, meter) => chatChunks(chat, deltas, meter)
  }))

/** Chat completions as the router serves them: the served model's side validates and tokenizes (any `model` is the router's business). */
export const chatEndpoint: RoutedEndpoint = {
  kind: "chat",
  prepareLocal: prepareLocalChat,
  prepareChat: prepareLocalChat,
  messages: (body) => (Array.isArray(body.messages) ? body.messages.length : undefined),
  shapeError: (body) => {
    const messages = body.messages
    if (!Array.isArray(messages) || messages.length === 0) return invalidRequest("`messages` must be a non-empty array of message objects.", "messages")
    for (let i = 0; i < messages.length; i++) {
      const m: unknown = messages[i]
      if (typeof m !== "object" || m === null || Array.isArray(m) || typeof (m as { role?: unknown }).role !== "string") {
        return invalidRequest(`messages[${i}] must be an object with a string \`role\`.`, `messages[${i}]`)
      }
    }
    return undefined
  }
}

/** POST /v1/chat/completions, through the gateway and the router (src/router). */
export const chatCompletionsRoute = HttpRouter.add("POST", "/v1/chat/completions", orErrorResponse(handleRoutedRequest(chatEndpoint)))
