import { Cause, Effect, Option } from "effect"
import { HttpServerResponse } from "effect/http"
import { internalError, type ApiError } from "../api/api-error.ts"
import { ledgerUnavailableIn } from "./ledger-unavailable.ts"

/** The JSON body of an error, as sent in HTTP responses, SSE error events and WebSocket messages. */
export const errorBody = (e: ApiError) => ({ error: { message: e.message, type: e.type, param: e.param, code: e.code } })

export const errorResponse = (e: ApiError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(errorBody(e), { status: e.status, headers: e.headers ?? {} })

/**
 * The ApiError a failed cause answers with: its typed error if it has one, else (a defect) a 503 if the
 * request's ledger row could not be journaled, else a generic 500 after logging the cause server-side. Null when the cause is only an interruption (the client
 * left, or the server is shutting down), which must propagate instead of being answered.
 */
export const apiErrorFromCause = (cause: Cause.Cause<ApiError>): Effect.Effect<ApiError | null> => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return Effect.succeed(error.value)
  if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(null)
  const unavailable = ledgerUnavailableIn(cause)
  if (unavailable !== undefined) return Effect.succeed(unavailable)
  return Effect.as(Effect.logError("request failed", cause), internalError())
}

/** A handler whose ApiErrors become their OpenAI-shaped responses (defects are the middleware's job). */
export const orErrorResponse = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError, R>) =>
  Effect.catchTag(handler, "ApiError", (e) => Effect.succeed(errorResponse(e)))
