import { Cause, Effect, FiberHandle, Option, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import { Engine } from "../actors/engine.ts"
import { routeStream } from "../router/http/routed-request.ts"
import { decodeJson, parseJson } from "./body.ts"
import { chatEndpoint } from "./chat.ts"
import { completionsEndpoint } from "./completions.ts"
import { ApiError, apiErrorFromCause, errorBody, errorResponse, invalidRequest } from "./errors.ts"
import { currentPrincipal } from "./admission.ts"
import { WebSocketRequestType } from "./schemas.ts"

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
    const running = yield* FiberHandle.make<void, never>()

    /**
     * The request's chunks (JSON text, written as is), routed like the SSE endpoints; its gateway
     * permit and upstream request live in the running request's scope.
     */
    const chunksFor = (kind: "chat.completions" | "completions", json: unknown) =>
      Effect.gen(function*() {
        if (principal._tag === "Failure") return yield* principal.failure
        const { type: _, ...body } = json as Record<string, unknown>
        const { chunks } = yield* routeStream(kind === "chat.completions" ? chatEndpoint : completionsEndpoint, principal.success, body)
        return chunks
      })

    const run = (kind: "chat.completions" | "completions", json: unknown) =>
      Effect.scoped(Effect.gen(function*() {
        yield* Stream.runForEach(yield* chunksFor(kind, json), (text) => write(text).pipe(Effect.ignore))
        yield* send({ type: "done" })
      })).pipe(
        Effect.catchCause((cause) =>
          Effect.flatMap(apiErrorFromCause(cause), (e) => (e === null ? Effect.failCause(cause as Cause.Cause<never>) : send(errorMessage(e))))
        ),
        Effect.provideService(Engine, engine)
      )

    const onMessage = (text: string) =>
      Effect.gen(function*() {
        const json = yield* parseJson(text)
        const { type } = yield* decodeJson(WebSocketRequestType, json)
        const busy = Option.isSome(yield* FiberHandle.get(running))
        if (type === "cancel") {
          if (!busy) return
          yield* FiberHandle.clear(running)
          return yield* send({ type: "done", cancelled: true })
        }
        if (busy) {
          return yield* invalidRequest("A request is already running on this connection; wait for done or send {\"type\": \"cancel\"}.", null, "request_in_progress")
        }
        yield* FiberHandle.run(running, run(type, json))
      }).pipe(Effect.catchTag("ApiError", (e) => send(errorMessage(e))))

    // The reader fails with a SocketError when the socket closes (cleanly or not): that ends the loop,
    // and the handle's scope interrupts a running request, which aborts it in the engine.
    const pull = yield* Socket.readerString(socket.value)
    yield* Effect.forever(Effect.flatMap(pull, (frames) => Effect.forEach(frames, onMessage, { discard: true }))).pipe(Effect.ignore)
    return HttpServerResponse.empty()
  })
)
