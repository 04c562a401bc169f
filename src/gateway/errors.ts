import { Data } from "effect"

/**
 * Why the gateway refused a request, as a reason the HTTP edge (src/http/error-mapping.ts) turns into a
 * status: unauthorized 401, forbidden 403, invalid_request and budget_exceeded 400, rate_limited 429,
 * unavailable 503.
 */
export type GatewayRefusal = "unauthorized" | "forbidden" | "invalid_request" | "budget_exceeded" | "rate_limited" | "unavailable"

/**
 * A gateway refusal: its reason, OpenAI's error fields (code, message, param), and for rate limits the
 * limit that was hit, when to retry and the x-ratelimit-* state. Messages never contain the presented key.
 */
export class GatewayError extends Data.TaggedError("GatewayError")<{
  readonly reason: GatewayRefusal
  readonly code: string | null
  readonly message: string
  readonly param: string | null
  /** Which limit a rate_limited refusal hit (OpenAI types the 429 by it). */
  readonly limit?: "requests" | "tokens" | undefined
  /** When a retry may pass (rate limits, an unavailable store). */
  readonly retryAfterMs?: number | undefined
  /** OpenAI's x-ratelimit-* headers for the caller's limits at the time of the refusal. */
  readonly rateLimitHeaders?: Readonly<Record<string, string>> | undefined
}> {
  /** Whether the same request may pass later without a change (a limit's window moves, a store comes back). */
  get isRetryable(): boolean {
    return this.reason === "rate_limited" || this.reason === "unavailable"
  }
}

const invalidApiKey = (message: string) =>
  new GatewayError({ reason: "unauthorized", code: "invalid_api_key", message, param: null })

export const missingApiKey = () =>
  invalidApiKey(
    "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY) or in an x-api-key header."
  )

export const malformedCredentials = (detail: string) => invalidApiKey(`Malformed credentials: ${detail}.`)

/** Unknown, revoked and wrong keys get the same answer, so it tells a prober nothing. */
export const incorrectApiKey = () => invalidApiKey("Incorrect API key provided.")

export const expiredApiKey = () => invalidApiKey("The API key provided has expired.")

export const adminOnly = () =>
  new GatewayError({ reason: "forbidden", code: "insufficient_permissions", message: "This endpoint requires the master key.", param: null })

export const modelNotAllowed = (model: string, holder: "key" | "team") =>
  new GatewayError({ reason: "forbidden", code: "model_not_allowed", message: `This API ${holder} is not allowed to use the model \`${model}\`.`, param: "model" })

export const requestTooLarge = (what: "max_messages" | "max_prompt_tokens", limit: number, requested: number) =>
  new GatewayError({
    reason: "invalid_request",
    code: `${what}_exceeded`,
    message: what === "max_messages"
      ? `This request has ${requested} messages; at most ${limit} are allowed per request with this API key.`
      : `This request's prompt has ${requested} tokens; at most ${limit} are allowed per request with this API key.`,
    param: what === "max_messages" ? "messages" : null
  })

export const rateLimited = (limit: "requests" | "tokens", message: string, retryAfterMs: number, rateLimitHeaders: Readonly<Record<string, string>>) =>
  new GatewayError({ reason: "rate_limited", limit, code: "rate_limit_exceeded", message, param: null, retryAfterMs, rateLimitHeaders })

/** The key store or the limit store is unreachable: refuse (503) rather than let requests through unchecked. */
export const gatewayUnavailable = (what: string) =>
  new GatewayError({
    reason: "unavailable",
    code: "gateway_unavailable",
    message: `The gateway could not check this request (${what} unavailable); retry shortly.`,
    param: null,
    retryAfterMs: 1000
  })
