import { Context, Effect } from "effect"
import { HttpEffect, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { ClientRequestId, clientRequestIdOf, newRequestId } from "../../gateway/request-id.ts"

/** The current request's id, made by the server (the ledger's key), for handlers and logs. */
export const RequestId = Context.Reference<string>("inferline/http/RequestId", { defaultValue: () => "" })

/**
 * Every request gets an id of the server's own (`RequestId`, the ledger row's key, sent back as
 * `x-inferline-request-id`). A sane `x-request-id` from the client is kept apart as `ClientRequestId`
 * (the row's client_request_id) and echoed in the response's `x-request-id`; without one, `x-request-id`
 * is the server's id. Both headers go out through a pre-response handler, so error responses made by
 * outer middleware carry them too, and every log line of the request is annotated with `request_id`
 * (and `client_request_id`).
 */
export const requestIdMiddleware = HttpRouter.middleware((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = newRequestId()
    const clientId = clientRequestIdOf(request.headers["x-request-id"])
    yield* HttpEffect.appendPreResponseHandler((_, response) =>
      Effect.succeed(HttpServerResponse.setHeaders(response, { "x-request-id": clientId ?? id, "x-inferline-request-id": id }))
    )
    const annotated = clientId === undefined
      ? app.pipe(Effect.annotateLogs("request_id", id))
      : app.pipe(Effect.provideService(ClientRequestId, clientId), Effect.annotateLogs({ request_id: id, client_request_id: clientId }))
    return yield* annotated.pipe(Effect.provideService(RequestId, id))
  }), { global: true })
