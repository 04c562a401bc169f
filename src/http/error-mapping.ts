import type { GatewayError } from "../gateway/errors.ts"
import { retryAfterHeaders } from "../gateway/limits/rate-limit-headers.ts"
import { ApiError } from "../api/api-error.ts"
import type { ProviderError } from "../router/providers/provider.ts"

/**
 * The one place where the lower layers' errors (reasons, no HTTP status) become the API's: status,
 * OpenAI's error type and code, and the headers that go with them.
 */

const GATEWAY_STATUS: Record<GatewayError["reason"], number> = {
  unauthorized: 401,
  forbidden: 403,
  invalid_request: 400,
  budget_exceeded: 400,
  rate_limited: 429,
  unavailable: 503
}

/** A gateway refusal as the API's error (Retry-After and x-ratelimit-* headers with it). */
export const fromGatewayError = (e: GatewayError): ApiError =>
  new ApiError({
    status: GATEWAY_STATUS[e.reason],
    type: e.reason === "rate_limited" ? e.limit ?? "requests" : e.reason === "unavailable" ? "server_error" : "invalid_request_error",
    message: e.message,
    param: e.param,
    code: e.code,
    headers: { ...e.rateLimitHeaders, ...(e.retryAfterMs !== undefined && retryAfterHeaders(e.retryAfterMs)) }
  })

/** Seconds a client is told to wait when the engine's waiting queue is full. */
const OVERLOADED_RETRY_AFTER_SECONDS = 1

/**
 * A routing failure as the API's error. Faults of an upstream (connection, 5xx, its configuration) get
 * a message without its host, port or raw error text, naming the request id to find the details in the
 * server log; what an upstream said about the request itself (a 4xx) reaches the client as it is.
 */
export const fromProviderError = (e: ProviderError, requestId: string): ApiError => {
  const attempts = e.attempts === undefined ? undefined : { "x-inferline-attempts": String(e.attempts) }
  const client = (status: number, code: string | null, type: ApiError["type"] = "invalid_request_error", headers?: Record<string, string>) =>
    new ApiError({ status, type, message: e.message, param: e.param ?? null, code, headers: { ...headers, ...attempts } })
  switch (e.kind) {
    case "bad_request":
      return client(e.upstreamStatus ?? 400, e.code ?? null)
    case "context_window":
      return client(e.upstreamStatus ?? 400, e.code ?? "context_length_exceeded")
    case "content_policy":
      return client(e.upstreamStatus ?? 400, e.code ?? "content_policy_violation")
    case "rate_limited":
      // An upstream's own Retry-After, or when the first of the group's deployments is free again.
      return client(429, e.code ?? "rate_limit_exceeded", "requests", retryAfterHeaders(e.retryAfterMs ?? 1000))
    case "timeout":
      return client(504, "timeout", "server_error")
    case "overloaded":
      return client(503, "overloaded", "server_error", { "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS) })
    case "internal":
      return client(500, "internal_error", "server_error")
    case "unavailable":
      return client(503, e.code ?? "unavailable", "server_error")
    case "connection":
    case "server":
    case "deployment": {
      const who = e.deployment === undefined ? "The upstream deployment" : `Upstream deployment ${e.deployment}`
      const reference = requestId === "" ? "" : ` (request ${requestId}; the server log has the details)`
      return new ApiError({
        status: 502,
        type: "server_error",
        message: `${who} failed: ${e.message}${reference}`,
        param: null,
        code: "upstream_error",
        headers: attempts
      })
    }
  }
}
