import { HttpServerResponse } from "effect/http"
import type { ApiError } from "../../api/api-error.ts"

/**
 * Errors of the Anthropic-compatible endpoints in Anthropic's shape: `{"type": "error", "error": {"type",
 * "message"}}`, typed by status as Anthropic types them. The status stays ours (a 503 overloaded is
 * Anthropic's 529, which the SDKs retry alike). The field at fault, when there is one, is named in the
 * message (Anthropic's shape has no `param`).
 */
const TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  503: "overloaded_error",
  529: "overloaded_error"
}

export const anthropicErrorType = (status: number): string => TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error")

export const anthropicErrorBody = (e: ApiError) => ({
  type: "error",
  error: { type: anthropicErrorType(e.status), message: e.param === null || e.message.includes(e.param) ? e.message : `${e.param}: ${e.message}` }
})

export const anthropicErrorResponse = (e: ApiError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(anthropicErrorBody(e), { status: e.status, headers: e.headers ?? {} })

/** The paths answered in Anthropic's shapes (errors included, 401s from the auth middleware too). */
export const isAnthropicPath = (path: string): boolean => path === "/v1/messages" || path === "/v1/messages/count_tokens"
