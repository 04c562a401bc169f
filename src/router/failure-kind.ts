/**
 * Why an attempt on a deployment failed, as far as routing cares:
 * - connection, timeout, rate_limited, server: the deployment's fault or load; retried with backoff.
 * - overloaded, internal: the served model's engine refused (its waiting queue is full) or failed.
 * - deployment: refused by this deployment's configuration (401, 403, 404); the next deployment is tried.
 * - context_window, content_policy: the request does not fit this model; their own fallbacks apply.
 * - bad_request: the request's own fault; answered at once, never retried.
 * - unavailable: routing itself could not decide (semantic routing's embedder failed).
 */
export type FailureKind =
  | "connection"
  | "timeout"
  | "rate_limited"
  | "server"
  | "overloaded"
  | "internal"
  | "deployment"
  | "context_window"
  | "content_policy"
  | "bad_request"
  | "unavailable"

/** Failures another attempt may not meet: retried with backoff (num_retries). */
export const isRetryable = (kind: FailureKind): boolean =>
  kind === "connection" || kind === "timeout" || kind === "rate_limited" || kind === "server" || kind === "overloaded" || kind === "internal"

/**
 * Failures of the deployment, not of the request: they say something about its health (the breaker
 * counts them), and another attempt may succeed (num_retries applies to them).
 */
export const isDeploymentFailure = (kind: FailureKind): boolean => isRetryable(kind) || kind === "deployment"
