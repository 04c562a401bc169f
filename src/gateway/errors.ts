import { Data } from "effect"

/**
 * OpenAI's `error.type` values the gateway answers with: 401/403/400 are `invalid_request_error`; a 429 is
 * typed by the limit that was hit, `requests` or `tokens`, as OpenAI does (code `rate_limit_exceeded`).
 */
export type GatewayErrorType = "invalid_request_error" | "requests" | "tokens" | "server_error"

/**
 * Why the gateway refused a request, with everything an HTTP response needs: status, OpenAI error fields
 * and headers (Retry-After, x-ratelimit-*). Messages never contain the presented key.
 */
export class GatewayError extends Data.TaggedError("GatewayError")<{
  readonly status: number
  readonly type: GatewayErrorType
  readonly code: string | null
  readonly message: string
  readonly param: string | null
  readonly headers: Readonly<Record<string, string>>
}> {}

const invalidApiKey = (message: string) =>
  new GatewayError({ status: 401, type: "invalid_request_error", code: "invalid_api_key", message, param: null, headers: {} })

export const missingApiKey = () =>
  invalidApiKey(
    "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY) or in an x-api-key header."
  )

export const malformedCredentials = (detail: string) => invalidApiKey(`Malformed credentials: ${detail}.`)

/** Unknown, revoked and wrong keys get the same answer, so it tells a prober nothing. */
export const incorrectApiKey = () => invalidApiKey("Incorrect API key provided.")

export const expiredApiKey = () => invalidApiKey("The API key provided has expired.")

export const adminOnly = () =>
  new GatewayError({
    status: 403,
    type: "invalid_request_error",
    code: "insufficient_permissions",
    message: "This endpoint requires the master key.",
    param: null,
    headers: {}
  })

export const modelNotAllowed = (model: string, holder: "key" | "team") =>
  new GatewayError({
    status: 403,
    type: "invalid_request_error",
    code: "model_not_allowed",
    message: `This API ${holder} is not allowed to use the model \`${model}\`.`,
    param: "model",
    headers: {}
  })

export const requestTooLarge = (what: "max_messages" | "max_prompt_tokens", limit: number, requested: number) =>
  new GatewayError({
    status: 400,
    type: "invalid_request_error",
    code: `${what}_exceeded`,
    message: what === "max_messages"
      ? `This request has ${requested} messages; at most ${limit} are allowed per request with this API key.`
      : `This request's prompt has ${requested} tokens; at most ${limit} are allowed per request with this API key.`,
    param: what === "max_messages" ? "messages" : null,
    headers: {}
  })

export const rateLimited = (type: "requests" | "tokens", message: string, headers: Readonly<Record<string, string>>) =>
  new GatewayError({ status: 429, type, code: "rate_limit_exceeded", message, param: null, headers })

/** The key store or the limit store is unreachable: refuse (503) rather than let requests through unchecked. */
export const gatewayUnavailable = (what: string) =>
  new GatewayError({
    status: 503,
    type: "server_error",
    code: "gateway_unavailable",
    message: `The gateway could not check this request (${what} unavailable); retry shortly.`,
    param: null,
    headers: { "retry-after": "1" }
  })
