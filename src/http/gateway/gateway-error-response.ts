import { Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import type { GatewayError } from "../../gateway/errors.ts"

/**
 * A GatewayError as its HTTP response: OpenAI's error body (the same shape as ../errors.ts's errorBody,
 * whose ApiError type does not include the 429 types `requests` / `tokens`) with the error's headers.
 */
export const gatewayErrorResponse = (e: GatewayError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    { error: { message: e.message, type: e.type, param: e.param, code: e.code } },
    { status: e.status, headers: e.headers }
  )

/** A handler whose GatewayErrors become their responses. */
export const orGatewayErrorResponse = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E | GatewayError, R>) =>
  Effect.catchIf(
    handler,
    (e): e is GatewayError => (e as { _tag?: unknown } | null)?._tag === "GatewayError",
    (e) => Effect.succeed(gatewayErrorResponse(e))
  )
