import { Effect } from "effect"
import type { HttpServerResponse } from "effect/http"
import type { GatewayError } from "../../gateway/errors.ts"
import { ApiError, errorResponse } from "../errors.ts"

/** A gateway refusal as the API's error (same OpenAI body; Retry-After and x-ratelimit-* headers kept). */
export const fromGatewayError = (e: GatewayError): ApiError =>
  new ApiError({ status: e.status, type: e.type, message: e.message, param: e.param, code: e.code, headers: e.headers })

/** A GatewayError as its HTTP response. */
export const gatewayErrorResponse = (e: GatewayError): HttpServerResponse.HttpServerResponse => errorResponse(fromGatewayError(e))

/** A handler whose GatewayErrors become their responses. */
export const orGatewayErrorResponse = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E | GatewayError, R>) =>
  Effect.catchIf(
    handler,
    (e): e is GatewayError => (e as { _tag?: unknown } | null)?._tag === "GatewayError",
    (e) => Effect.succeed(gatewayErrorResponse(e))
  )
