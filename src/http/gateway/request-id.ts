import { Context, Effect } from "effect"
import { HttpEffect, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { requestIdFor } from "../../gateway/request-id.ts"

/** The current request's id (x-request-id), for handlers and logs. */
export const RequestId = Context.Reference<string>("inferline/http/RequestId", { defaultValue: () => "" })

/**
 * Every request gets an id: the client's `x-request-id` when it is sane (≤ 128 of [A-Za-z0-9._-]), else
 * a new one. It is echoed in the response's `x-request-id` — through a pre-response handler, so error
 * responses made by outer middleware carry it too — available as `RequestId`, and annotates every log
 * line of the request as `request_id`.
 */
export const requestIdMiddleware = HttpRouter.middleware((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = requestIdFor(request.headers["x-request-id"])
    yield* HttpEffect.appendPreResponseHandler((_, response) => Effect.succeed(HttpServerResponse.setHeader(response, "x-request-id", id)))
    return yield* app.pipe(Effect.provideService(RequestId, id), Effect.annotateLogs("request_id", id))
  }), { global: true })
