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
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { orErrorResponse } from "./errors.ts"
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
}

/** Validates a chat request against the served model: template, context length, sampling params. */
export const prepareChat = Effect.fnUntraced(function*(request: ChatCompletionRequest) {
  const engine = yield* Engine
  const info = engine.info
  yield* checkModel(request.model, info)
  if ((request.top_logprobs ?? 0) > 0 && request.logprobs !== true) {
    return yield* invalidRequest("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
  }
  const prompt = yield* chatPrompt(request.messages, request.add_generation_prompt ?? true, info)
  yield* checkPromptLength(prompt, info, "messages")
  const params = yield* toSamplingParams({
    fields: request,
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? null,
    maxTokensParam: request.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
    logprobs: request.logprobs === true ? request.top_logprobs ?? 0 : null,
    promptLogprobs: request.prompt_logprobs ?? null,
    promptTokens: prompt.tokenIds.length
  }, info)
  yield* checkSequenceCount(params.n, info, "n")
  return {
    id: responseId("chatcmpl"),
    created: unixSeconds(),
    model: info.modelName,
    n: params.n,
    generate: { promptTokenIds: prompt.tokenIds, params, priority: request.priority ?? undefined, cacheSalt: request.cache_salt ?? null },
    render: tokenRenderer(info.tokenizer, request.return_tokens_as_token_ids ?? false),
    wantsLogprobs: params.logprobs !== null,
    includeUsage: request.stream_options?.include_usage ?? false
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
  yield* Stream.runForEach(deltas, (d) =>
    Effect.sync(() => {
      const c = choices[d.index]
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
    choices: choices.map((c, index) => ({
      index,
      message: { role: "assistant", content: c.content },
      logprobs: chat.wantsLogprobs ? { content: c.logprobs } : null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason
    })),
    usage: meter.usage,
    ...(promptLogprobs !== null && { prompt_logprobs: promptLogprobs })
  }
})

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
    Stream.mapAccum(() => undefined, (state, d) => {
      const out: Array<unknown> = []
      const hasTokens = chat.wantsLogprobs && d.logprobs !== null && d.logprobs.length > 0
      if (d.text !== "" || hasTokens) {
        out.push(chunk([{
          index: d.index,
          delta: { content: d.text },
          logprobs: chat.wantsLogprobs ? { content: d.logprobs === null ? [] : chatLogprobs(chat.render, d.logprobs) } : null,
          finish_reason: null
        }]))
      }
      if (d.finishReason !== null) {
        out.push(chunk([{ index: d.index, delta: {}, logprobs: null, finish_reason: d.finishReason, stop_reason: d.stopReason }]))
      }
      return [state, out] as const
    }, {
      // The meter has counted every delta by now (it is fed before they reach this stream).
      onHalt: () => (chat.includeUsage ? [{ id: chat.id, object: "chat.completion.chunk", created: chat.created, model: chat.model, choices: [], usage: meter.usage }] : [])
    })
  )
  return Stream.concat(Stream.fromIterable(roleChunks), body)
}

/** Chat completions as the router serves them: the served model's side validates and tokenizes (any `model` is the router's business). */
/** A chat request for the served model: validated, tokenized, with its way of turning deltas into an answer. */
const prepareLocalChat = (json: unknown) =>
  Effect.map(Effect.flatMap(decodeJson(ChatCompletionRequest, json), (request) => prepareChat({ ...request, model: null })), (chat): LocalRequest => ({
    generates: [chat.generate],
    response: (deltas, meter) => chatCompletion(chat, deltas, meter),
    chunks: (deltas, meter) => chatChunks(chat, deltas, meter)
  }))

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
