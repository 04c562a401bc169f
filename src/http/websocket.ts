import { Cause, Effect, FiberHandle, Option, type Result, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import { Engine } from "../actors/engine.ts"
import { decodeJson, parseJson } from "./body.ts"
import { chatEndpoint } from "./chat.ts"
import { completionsEndpoint } from "./completions.ts"
import { currentPrincipal } from "./admission.ts"
import type { Principal } from "../gateway/principal.ts"
import { WebSocketRequestType } from "./schemas.ts"
import { routeStream } from "./routed-request.ts"
import { ApiError, invalidRequest } from "../api/api-error.ts"
import { apiErrorFromCause, errorBody, errorResponse } from "./errors.ts"
import { RequestId } from "./gateway/request-id.ts"
import { newRequestId } from "../gateway/request-id.ts"

/**
 * GET /v1/ws: streaming over a WebSocket, on Effect's own upgrade support (HttpServerRequest.upgrade,
 * backed by `ws` in @effect/platform-node).
 *
 * Protocol (text frames of JSON):
 * - client → `{"type": "chat.completions", ...chat request}` or `{"type": "completions", ...request}`;
 *   the server streams the same chunk objects as the SSE endpoints (`stream` is implied), then
 *   `{"type": "done"}`. One request runs at a time per connection; another request sent meanwhile is
 *   refused with an error of code `request_in_progress` (the running one continues).
 * - client → `{"type": "cancel"}` aborts the running request (its KV blocks are freed at once); the
 *   server answers `{"type": "done", "cancelled": true}`. With nothing running, cancel is ignored.
 * - errors (bad JSON, validation, engine) → `{"type": "error", "error": {message, type, param, code}}`;
 *   an error ends the request it belongs to (no done follows).
 * Closing the socket aborts the running request.
 */

const errorMessage = (e: ApiError) => ({ type: "error", ...errorBody(e) })

/** One WebSocket connection: its caller (checked on the upgrade request), its writer, its running request. */
interface Connection {
  readonly principal: Result.Result<Principal, ApiError>
  readonly write: (text: string) => Effect.Effect<void>
  readonly send: (message: unknown) => Effect.Effect<void>
  readonly running: FiberHandle.FiberHandle<void, never>
  readonly engine: Engine["Service"]
}

// Generators made once and run per message with the connection (see bench/scavenge-survivors.ts).

/**
 * The request's chunks (JSON text, written as is), routed like the SSE endpoints; its gateway permit and
 * upstream request live in the running request's scope.
 */
const chunksFor = Effect.fnUntraced(function*(c: Connection, kind: "chat.completions" | "completions", json: unknown) {
  if (c.principal._tag === "Failure") return yield* c.principal.failure
  const { type: _, ...body } = json as Record<string, unknown>
  const { chunks } = yield* routeStream(kind === "chat.completions" ? chatEndpoint : completionsEndpoint, c.principal.success, body)
  return chunks
})

const streamRequest = Effect.fnUntraced(function*(c: Connection, kind: "chat.completions" | "completions", json: unknown) {
  yield* Stream.runForEach(yield* chunksFor(c, kind, json), c.write)
  yield* c.send({ type: "done" })
})

/**
 * One request of the connection. It gets a request id of its own (the ledger row's key): the upgrade
 * request's id is the connection's, and every request after the first would collide with it.
 */
const run = (c: Connection, kind: "chat.completions" | "completions", json: unknown) => {
  const id = newRequestId()
  return Effect.scoped(streamRequest(c, kind, json)).pipe(
    Effect.catchCause((cause) =>
      Effect.flatMap(apiErrorFromCause(cause), (e) => (e === null ? Effect.failCause(cause as Cause.Cause<never>) : c.send(errorMessage(e))))
    ),
    Effect.provideService(Engine, c.engine),
    Effect.provideService(RequestId, id),
    Effect.annotateLogs("request_id", id)
  )
}

const handleMessage = Effect.fnUntraced(function*(c: Connection, text: string) {
  const json = yield* parseJson(text)
  const { type } = yield* decodeJson(WebSocketRequestType, json)
  const busy = Option.isSome(yield* FiberHandle.get(c.running))
  if (type === "cancel") {
    if (!busy) return
    yield* FiberHandle.clear(c.running)
    return yield* c.send({ type: "done", cancelled: true })
  }
  if (busy) {
    return yield* invalidRequest("A request is already running on this connection; wait for done or send {\"type\": \"cancel\"}.", null, "request_in_progress")
  }
  yield* FiberHandle.run(c.running, run(c, type, json))
})

const onMessage = (c: Connection, text: string) => handleMessage(c, text).pipe(Effect.catchTag("ApiError", (e) => c.send(errorMessage(e))))

export const websocketRoute = HttpRouter.add(
  "GET",
  "/v1/ws",
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const socket = yield* Effect.option(request.upgrade)
    if (Option.isNone(socket)) {
      return errorResponse(new ApiError({
        status: 426,
        type: "invalid_request_error",
        message: "GET /v1/ws expects a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket).",
        param: null,
        code: "upgrade_required",
        headers: { upgrade: "websocket" }
      }))
    }
    const engine = yield* Engine
    // Browsers cannot set headers on a WebSocket: the key is checked once, on the upgrade request.
    const principal = yield* Effect.result(currentPrincipal)
    const write = (yield* socket.value.writer).write
    const send = (message: unknown) => write(JSON.stringify(message)).pipe(Effect.ignore)
    const connection: Connection = { principal, write: (text) => write(text).pipe(Effect.ignore), send, running: yield* FiberHandle.make<void, never>(), engine }

    // The reader fails with a SocketError when the socket closes (cleanly or not): that ends the loop,
    // and the handle's scope interrupts a running request, which aborts it in the engine.
    const pull = yield* Socket.readerString(socket.value)
    yield* Effect.forever(Effect.flatMap(pull, (frames) => Effect.forEach(frames, (text) => onMessage(connection, text), { discard: true }))).pipe(Effect.ignore)
    return HttpServerResponse.empty()
  })
)
