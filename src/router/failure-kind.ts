/**
 * Why an attempt on a deployment failed, as far as routing cares:
 * - connection, timeout, rate_limited, server: the deployment's fault or load; retried with backoff.
 * - overloaded: the served model's engine has no room now (its waiting queue is full). It says nothing
 *   about the engine's health: it never counts toward a cooldown, and is not retried on the same
 *   deployment (that would only add load); fallbacks apply.
 * - internal: the served model's engine failed (a fault: it counts).
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

/** Failures a later attempt may not meet: when they are retried, it is after a backoff. */
export const isRetryable = (kind: FailureKind): boolean =>
  kind === "connection" || kind === "timeout" || kind === "rate_limited" || kind === "server" || kind === "overloaded" || kind === "internal"

/**
 * Failures that say something about the deployment's health: the breaker counts them, and another
 * attempt may succeed (num_retries applies to them).
 */
export const isDeploymentFailure = (kind: FailureKind): boolean => (isRetryable(kind) && kind !== "overloaded") || kind === "deployment"
