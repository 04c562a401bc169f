import { Cause, Data, Effect, Option, Schema, SchemaIssue } from "effect"
import { HttpServerResponse } from "effect/http"
import type { EngineError } from "../actors/engine.ts"

/**
 * The `type` field of an OpenAI error; clients branch on the HTTP status, humans read the type. A 429 is
 * typed by the limit that was hit, `requests` or `tokens`, as OpenAI does.
 */
export type ApiErrorType = "invalid_request_error" | "server_error" | "requests" | "tokens"

/**
 * An error the API answers with, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
 * Every failure of a request handler ends up as one of these, so no input can surface a stack trace.
 */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: number
  readonly type: ApiErrorType
  readonly message: string
  readonly param: string | null
  readonly code: string | null
  readonly headers?: Readonly<Record<string, string>>
}> {}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError({ status: 400, type: "invalid_request_error", message, param, code })

export const modelNotFound = (model: string) =>
  new ApiError({
    status: 404,
    type: "invalid_request_error",
    message: `The model \`${model}\` does not exist. GET /v1/models lists the served models.`,
    param: "model",
    code: "model_not_found"
  })

export const routeNotFound = (method: string, path: string) =>
  new ApiError({ status: 404, type: "invalid_request_error", message: `No route for ${method} ${path}. GET /docs lists the endpoints.`, param: null, code: "not_found" })

export const methodNotAllowed = (method: string, path: string, allowed: ReadonlyArray<string>) =>
  new ApiError({
    status: 405,
    type: "invalid_request_error",
    message: `${method} is not allowed on ${path}; use ${allowed.join(" or ")}.`,
    param: null,
    code: "method_not_allowed",
    headers: { allow: allowed.join(", ") }
  })

export const bodyTooLarge = (limitBytes: number) =>
  new ApiError({
    status: 413,
    type: "invalid_request_error",
    message: `The request body exceeds the limit of ${limitBytes} bytes (--max-request-body-size).`,
    param: null,
    code: "request_too_large"
  })

/** Faults of ours: the message is generic on purpose, the details go to the server log. */
export const internalError = (message = "The server had an internal error while processing your request.") =>
  new ApiError({ status: 500, type: "server_error", message, param: null, code: "internal_error" })

/** Seconds a client is told to wait when the engine's waiting queue is full. */
const OVERLOADED_RETRY_AFTER_SECONDS = 1

export const fromEngineError = (e: EngineError): ApiError => {
  switch (e.reason) {
    case "invalid_request":
      return invalidRequest(e.message)
    case "overloaded":
      return new ApiError({
        status: 503,
        type: "server_error",
        message: `The engine is overloaded: ${e.message}`,
        param: null,
        code: "overloaded",
        headers: { "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS) }
      })
    case "internal":
      return internalError(`The engine failed while processing your request: ${e.message}`)
  }
}

/** `["messages", 0, "content"]` → `messages[0].content`, the way OpenAI names nested params. */
export const formatParamPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`, "")

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** A schema violation as a 400 naming the offending field (param) in both the message and `param`. */
export const fromSchemaError = (e: Schema.SchemaError): ApiError => {
  const first = issueFormatter(e.issue).issues[0]
  const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p)) as Array<PropertyKey>
  const param = formatParamPath(path)
  const detail = first?.message ?? "invalid value"
  return param === ""
    ? invalidRequest(`Invalid request body: ${detail}.`)
    : invalidRequest(`Invalid value for '${param}': ${detail}.`, param)
}

/** The JSON body of an error, as sent in HTTP responses, SSE error events and WebSocket messages. */
export const errorBody = (e: ApiError) => ({ error: { message: e.message, type: e.type, param: e.param, code: e.code } })

export const errorResponse = (e: ApiError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(errorBody(e), { status: e.status, headers: e.headers ?? {} })

/**
 * The ApiError a failed cause answers with: its typed error if it has one, else (a defect) a generic
 * 500 after logging the cause server-side. Null when the cause is only an interruption (the client
 * left, or the server is shutting down), which must propagate instead of being answered.
 */
export const apiErrorFromCause = (cause: Cause.Cause<ApiError>): Effect.Effect<ApiError | null> => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return Effect.succeed(error.value)
  if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(null)
  return Effect.as(Effect.logError("request failed", cause), internalError())
}

/** A handler whose ApiErrors become their OpenAI-shaped responses (defects are the middleware's job). */
export const orErrorResponse = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError, R>) =>
  Effect.catchTag(handler, "ApiError", (e) => Effect.succeed(errorResponse(e)))
