import { Cause, Effect, Layer, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { ApiError, internalError, invalidRequest, modelRequired } from "../../api/api-error.ts"
import { unixSeconds } from "../../api/response-ids.ts"
import type { Principal } from "../../gateway/principal.ts"
import { StoredResponses, type StoredResponsesError } from "../../ledger/stored-responses.ts"
import { withTracedSpan } from "../../observability/traced-span.ts"
import { Router } from "../../router/router.ts"
import { currentPrincipal } from "../admission.ts"
import { readJson } from "../body.ts"
import { chatEndpoint } from "../chat.ts"
import { apiErrorFromCause, orErrorResponse } from "../errors.ts"
import { withRateLimitHeaders } from "../gateway/authenticate-request.ts"
import { routeBody } from "../routed-request.ts"
import { itemId, toChatRequest } from "./responses-request.ts"
import { outputOf, responseObject, ResponsesStreamTranslator, type ResponseEcho, type ResponseEvent } from "./responses-output.ts"

/**
 * OpenAI's Responses API (for the Agents SDK and Codex): POST /v1/responses is translated to a chat
 * request and served by the chat path (gateway, budgets, cache, guardrails, router, ledger, span); the
 * answer becomes a response object or the typed event stream. With `store` (the default) the response,
 * its input items and the conversation are kept (StoredResponses, per key) for GET, DELETE,
 * input_items and previous_response_id.
 */
type Json = Record<string, any>

/** Whose stored responses a caller sees: its key's only. */
const ownerOf = (p: Principal): string => (p._tag === "Key" ? `key:${p.key.id}` : p._tag === "Master" ? "master" : "auth-off")

const storeFailed = (e: StoredResponsesError) => Effect.andThen(Effect.logError(`responses: store failed (${e.operation})`, e.cause), Effect.fail(internalError()))

const notFound = (id: string, param: string | null = null) =>
  new ApiError({ status: 404, type: "invalid_request_error", message: param === null ? `No response found with id '${id}'.` : `Previous response with id '${id}' not found.`, param, code: param === null ? "not_found" : "previous_response_not_found" })

const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x)

const sseEvent = (e: ResponseEvent | Json) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`

/** The conversation a previous response left, for this caller; a 404 when it has none by that id. */
const priorConversation = Effect.fnUntraced(function*(json: Json, owner: string) {
  const id = json.previous_response_id
  if (id == null) return []
  if (typeof id !== "string") return yield* invalidRequest("previous_response_id must be a string.", "previous_response_id")
  const previous = yield* Effect.catchTag((yield* StoredResponses).get(id, owner), "StoredResponsesError", storeFailed)
  if (previous === undefined) return yield* notFound(id, "previous_response_id")
  return previous.conversation
})

const handleCreate = Effect.gen(function*() {
  const principal = yield* currentPrincipal.pipe(withTracedSpan("gateway.authenticate"))
  const json = yield* readJson
  if (!isObject(json)) return yield* invalidRequest("The request body must be a JSON object.")
  const owner = ownerOf(principal)
  const prior = yield* priorConversation(json, owner)
  const translated = toChatRequest(json, prior)
  if (translated instanceof ApiError) return yield* translated
  const router = yield* Router
  const model = typeof json.model === "string" ? json.model : router.servedModel
  // A gateway without a model has no default group: the request must name one.
  if (model === null) return yield* modelRequired()
  const echo: ResponseEcho = { id: itemId("resp"), createdAt: unixSeconds(), model, request: json }
  const stored = yield* StoredResponses
  const save = (response: unknown, assistant: Json) =>
    json.store === false
      ? Effect.void
      : Effect.catchTag(
        stored.put({ id: echo.id, owner, model: echo.model, createdAt: new Date(), response, inputItems: translated.input.items, conversation: [...prior, ...translated.input.messages, assistant] }),
        "StoredResponsesError",
        storeFailed
      )
  const answer = yield* routeBody(chatEndpoint, principal, translated.chat, false)
  if (answer._tag === "Complete") {
    const completion = answer.result.json ?? JSON.parse(answer.result.text!)
    const { output, assistant, status } = outputOf(completion)
    const response = responseObject(echo, status, output, completion.usage)
    yield* save(response, assistant)
    return withRateLimitHeaders(answer.headers)(HttpServerResponse.jsonUnsafe(response))
  }
  const translator = new ResponsesStreamTranslator(echo)
  const events = Stream.concat(
    Stream.concat(Stream.sync(() => translator.start()), Stream.map(answer.chunks, (chunk) => translator.push(chunk))),
    Stream.fromEffect(Effect.suspend(() => {
      const done = translator.finish(answer.usage())
      return Effect.as(save(done.response, done.assistant), done.events)
    }))
  )
  return HttpServerResponse.stream(
    events.pipe(
      Stream.map((batch) => batch.map(sseEvent).join("")),
      // A failure after the stream started: OpenAI's `error` event.
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(sseEvent({ type: "error", code: e.code ?? e.type, message: e.message, param: e.param })))))
      ),
      Stream.encodeText
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...answer.headers } }
  )
})

/** The stored response `:id` of this caller, or a 404. */
const storedResponse = Effect.gen(function*() {
  const principal = yield* currentPrincipal
  const id = decodeURIComponent((yield* HttpRouter.params).id ?? "")
  const found = yield* Effect.catchTag((yield* StoredResponses).get(id, ownerOf(principal)), "StoredResponsesError", storeFailed)
  if (found === undefined) return yield* notFound(id)
  return found
})

const handleGet = Effect.map(storedResponse, (r) => HttpServerResponse.jsonUnsafe(r.response))

const handleDelete = Effect.gen(function*() {
  const principal = yield* currentPrincipal
  const id = decodeURIComponent((yield* HttpRouter.params).id ?? "")
  const removed = yield* Effect.catchTag((yield* StoredResponses).remove(id, ownerOf(principal)), "StoredResponsesError", storeFailed)
  if (!removed) return yield* notFound(id)
  return HttpServerResponse.jsonUnsafe({ id, object: "response", deleted: true })
})

/** GET /v1/responses/{id}/input_items: `order` (desc by default, as OpenAI), `limit` (1-100, 20), `after` (an item id). */
const handleInputItems = Effect.gen(function*() {
  const r = yield* storedResponse
  const q = new URL((yield* HttpServerRequest.HttpServerRequest).url, "http://x").searchParams
  const order = q.get("order") ?? "desc"
  if (order !== "asc" && order !== "desc") return yield* invalidRequest("order must be asc or desc.", "order")
  const limit = q.get("limit") === null ? 20 : Number(q.get("limit"))
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return yield* invalidRequest("limit must be an integer from 1 to 100.", "limit")
  let items = (r.inputItems as ReadonlyArray<Json>).slice()
  if (order === "desc") items.reverse()
  const after = q.get("after")
  if (after !== null) items = items.slice(items.findIndex((i) => i.id === after) + 1)
  const data = items.slice(0, limit)
  return HttpServerResponse.jsonUnsafe({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: items.length > limit })
})

export const responsesRoutes = Layer.mergeAll(
  HttpRouter.add("POST", "/v1/responses", orErrorResponse(handleCreate)),
  HttpRouter.add("GET", "/v1/responses/:id", orErrorResponse(handleGet)),
  HttpRouter.add("DELETE", "/v1/responses/:id", orErrorResponse(handleDelete)),
  HttpRouter.add("GET", "/v1/responses/:id/input_items", orErrorResponse(handleInputItems))
)
