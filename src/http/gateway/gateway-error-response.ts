import { Effect } from "effect"
import type { HttpServerResponse } from "effect/http"
import type { GatewayError } from "../../gateway/errors.ts"
import { fromGatewayError } from "../error-mapping.ts"
import { errorResponse } from "../errors.ts"

/** A GatewayError as its HTTP response. */
export const gatewayErrorResponse = (e: GatewayError): HttpServerResponse.HttpServerResponse => errorResponse(fromGatewayError(e))

/** A handler whose GatewayErrors become their responses. */
export const orGatewayErrorResponse = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E | GatewayError, R>) =>
  Effect.catchIf(
    handler,
    (e): e is GatewayError => (e as { _tag?: unknown } | null)?._tag === "GatewayError",
    (e) => Effect.succeed(gatewayErrorResponse(e))
  )
