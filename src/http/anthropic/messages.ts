import { Cause, Effect, Layer, Stream } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Engine } from "../../actors/engine.ts"
import { ApiError, modelNotFound } from "../../api/api-error.ts"
import { withTracedSpan } from "../../observability/traced-span.ts"
import { estimatePromptTokens } from "../../router/estimate-tokens.ts"
import { Router } from "../../router/router.ts"
import { Gateway } from "../../gateway/gateway.ts"
import { currentPrincipal } from "../admission.ts"
import { fromGatewayError } from "../error-mapping.ts"
import { decodeJson, readJson } from "../body.ts"
import { chatEndpoint, prepareChat } from "../chat.ts"
import { apiErrorFromCause } from "../errors.ts"
import { withRateLimitHeaders } from "../gateway/authenticate-request.ts"
import { routeBody } from "../routed-request.ts"
import { ChatCompletionRequest } from "../schemas.ts"
import { anthropicErrorBody, anthropicErrorResponse } from "./anthropic-errors.ts"
import { toChatRequest } from "./messages-request.ts"
import { nativeCountTokens, nativeMessages } from "./native-messages.ts"
import { MessagesStreamTranslator, toMessage, type AnthropicEvent } from "./messages-response.ts"

/**
 * Anthropic's Messages API (POST /v1/messages, POST /v1/messages/count_tokens) for Claude Code and the
 * Anthropic SDKs: the request is translated to a chat request (messages-request.ts) and served by the
 * same path as /v1/chat/completions (gateway, budgets, response cache, guardrails, router with its
 * fallbacks, ledger, span), and the answer is translated back (messages-response.ts). Keys are accepted
 * in `x-api-key` as Anthropic clients send them, or as Bearer.
 */

/** ApiErrors of these routes answered in Anthropic's shape. */
const inAnthropicShape = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError, R>) =>
  Effect.catchTag(handler, "ApiError", (e) => Effect.succeed(anthropicErrorResponse(e)))

const sseEvent = (e: AnthropicEvent) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`

/**
 * The chat stream as Anthropic's event stream. A failure after the response has started becomes an
 * `error` event (as Anthropic sends one), and the message is not ended; a client gone just stops it.
 */
const anthropicSse = (chunks: Stream.Stream<string, ApiError>, translator: MessagesStreamTranslator, headers: Readonly<Record<string, string>>) =>
  HttpServerResponse.stream(
    chunks.pipe(
      Stream.map((chunk) => translator.push(chunk)),
      Stream.concat(Stream.suspend(() => Stream.succeed(translator.end()))),
      Stream.map((events) => events.map(sseEvent).join("")),
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(sseEvent(anthropicErrorBody(e))))))
      ),
      Stream.encodeText
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers } }
  )

/** A group whose deployments are all Anthropic's: its requests pass through natively. */
const anthropicGroup = (router: Router["Service"], json: unknown): string | undefined => {
  const model = (json as { model?: unknown } | null)?.model
  if (typeof model !== "string") return undefined
  const group = router.groupFor(model)
  const providers = router.providersOf(group)
  return providers !== undefined && providers.size === 1 && providers.has("anthropic") ? group : undefined
}

const handleMessages = Effect.gen(function*() {
  const principal = yield* currentPrincipal.pipe(withTracedSpan("gateway.authenticate"))
  const json = yield* readJson
  const native = anthropicGroup(yield* Router, json)
  if (native !== undefined) return yield* nativeMessages(principal, json as Record<string, unknown>, native)
  const chat = toChatRequest(json)
  if (chat instanceof ApiError) return yield* chat
  const model: string = chat.model
  const answer = yield* routeBody(chatEndpoint, principal, chat, false)
  if (answer._tag === "Stream") return anthropicSse(answer.chunks, new MessagesStreamTranslator(model, answer.usage), answer.headers)
  const completion = answer.result.json ?? JSON.parse(answer.result.text!)
  return withRateLimitHeaders(answer.headers)(HttpServerResponse.jsonUnsafe(toMessage(completion, model)))
})

/**
 * The prompt's tokens: Anthropic's own count for a group of Anthropic deployments; exact (the served
 * model's chat template and tokenizer, tools included) when the group has the served model; else the
 * router's estimate (about 4 characters a token).
 */
const handleCountTokens = Effect.gen(function*() {
  const principal = yield* currentPrincipal
  const json = yield* readJson
  const router = yield* Router
  // Counting is a use of the model too: a key (or team) limited to other models gets its 403.
  const gateway = yield* Gateway
  const authorize = (group: string) => gateway.authorizeModel(principal, group).pipe(Effect.mapError(fromGatewayError))
  const native = anthropicGroup(router, json)
  if (native !== undefined) {
    yield* authorize(native)
    return yield* nativeCountTokens(json as Record<string, unknown>, native)
  }
  const chat = toChatRequest(json, true)
  if (chat instanceof ApiError) return yield* chat
  const group = router.groupFor(chat.model)
  const providers = router.providersOf(group)
  if (providers === undefined) return yield* modelNotFound(chat.model)
  yield* authorize(group)
  if (!providers.has("local")) return HttpServerResponse.jsonUnsafe({ input_tokens: estimatePromptTokens(chat) })
  const request = yield* decodeJson(ChatCompletionRequest, { ...chat, model: null, max_tokens: 1 })
  yield* Engine
  const prepared = yield* prepareChat(request)
  return HttpServerResponse.jsonUnsafe({ input_tokens: prepared.generate.promptTokenIds.length })
})

export const messagesRoutes = Layer.mergeAll(
  HttpRouter.add("POST", "/v1/messages", inAnthropicShape(handleMessages)),
  HttpRouter.add("POST", "/v1/messages/count_tokens", inAnthropicShape(handleCountTokens))
)
