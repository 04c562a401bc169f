import { Data, type Effect, type Scope, type Stream } from "effect"
import type { Engine } from "../../actors/engine.ts"
import { ApiError } from "../../http/errors.ts"
import type { DeploymentConfig, ProviderName } from "../config.ts"
import type { LocalRequest } from "./local-request.ts"
import type { UsageMeter } from "../usage-meter.ts"

/** The two OpenAI endpoints the router serves. */
export type EndpointKind = "chat" | "completions"

/** One call to one deployment, at the OpenAI-request level. */
export interface ProviderCall {
  readonly kind: EndpointKind
  readonly deployment: DeploymentConfig
  /** The client's request JSON as sent (unknown fields such as tools or cache_control kept). */
  readonly body: Readonly<Record<string, unknown>>
  /** The same request validated and tokenized for the served model; memoized (local deployments). */
  readonly local: Effect.Effect<LocalRequest, ApiError, Engine>
  /** Where the provider reports the tokens used, for the gateway's tpm and the router's usage. */
  readonly meter: UsageMeter
}

/** A whole (non-streaming) OpenAI response: `text`, when set, is its JSON already serialised (sent as is). */
export interface CompleteResult {
  readonly json: unknown
  readonly text: string | undefined
}

/**
 * A provider turns an OpenAI request into an OpenAI response for one kind of upstream. `stream`
 * succeeds once the upstream has accepted the request (status 2xx, headers in): its stream yields the
 * `data:` payload of each OpenAI chunk as JSON text, without [DONE], and runs in the attempt's scope:
 * closing it (failure, fallback, client gone) aborts the upstream request. `complete` holds nothing
 * once it returns (a provider that needs a scope makes its own): interrupting it aborts the request.
 */
export interface Provider {
  readonly name: ProviderName
  /**
   * `complete` fails with `timedOut(deployment, "response", timeoutMs)` by itself (an HTTP provider arms a
   * timer on its request), so the router races no sleeping fiber against it (two forks per request).
   */
  readonly completeTimesOut?: boolean
  readonly complete: (call: ProviderCall) => Effect.Effect<CompleteResult, ProviderError, Engine>
  readonly stream: (call: ProviderCall) => Effect.Effect<Stream.Stream<string, ProviderError>, ProviderError, Scope.Scope | Engine>
}

/** A deployment that did not answer in time: retried elsewhere like a connection error. */
export const timedOut = (d: DeploymentConfig, what: string, ms: number) =>
  new ProviderError({ kind: "timeout", status: 504, message: `Deployment ${d.id} timed out: no ${what} within ${ms} ms.` })

/**
 * Why an attempt failed, as far as routing cares:
 * - connection, timeout, rate_limited, server: the deployment's fault or load; retried with backoff.
 * - deployment: refused by this deployment's configuration (401, 403, 404); the next deployment is tried.
 * - context_window, content_policy: the request does not fit this model; their own fallbacks apply.
 * - bad_request: the request's own fault; answered at once, never retried.
 */
export type FailureKind = "connection" | "timeout" | "rate_limited" | "server" | "deployment" | "context_window" | "content_policy" | "bad_request"

export class ProviderError extends Data.TaggedError("ProviderError")<{
  readonly kind: FailureKind
  readonly status: number
  readonly message: string
  /** The upstream's Retry-After, when it sent one. */
  readonly retryAfterMs?: number | undefined
  /** The exact error to answer with, when there is one (local engine errors, upstream 4xx bodies). */
  readonly apiError?: ApiError | undefined
}> {}

export const isRetryable = (kind: FailureKind) => kind === "connection" || kind === "timeout" || kind === "rate_limited" || kind === "server"

/** The error the client gets when this was the last failure. */
export const toApiError = (e: ProviderError): ApiError =>
  e.apiError ?? new ApiError({
    status: e.status,
    type: e.status === 429 ? "requests" : e.status >= 500 ? "server_error" : "invalid_request_error",
    message: e.message,
    param: null,
    code: e.kind === "context_window" ? "context_length_exceeded" : e.kind === "content_policy" ? "content_policy_violation" : e.kind === "timeout" ? "timeout" : e.kind === "rate_limited" ? "rate_limit_exceeded" : e.status >= 500 ? "upstream_error" : null
  })

/** Classifies a local ApiError (the engine path) the same way as an upstream's. */
export const fromApiError = (e: ApiError): ProviderError =>
  new ProviderError({
    kind: e.status === 429 ? "rate_limited" : e.status >= 500 ? "server" : e.code === "context_length_exceeded" ? "context_window" : "bad_request",
    status: e.status,
    message: e.message,
    apiError: e
  })
