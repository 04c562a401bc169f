import { Data, type Effect, type Scope, type Stream } from "effect"
import type { Engine } from "../../actors/engine.ts"
import type { DeploymentConfig, ProviderName } from "../config.ts"
import type { LocalRequest } from "./local-request.ts"
import type { FailureKind } from "../failure-kind.ts"
import type { UsageMeter } from "../../api/usage-meter.ts"

/**
 * What the router serves: the two OpenAI endpoints that generate, embeddings, and Anthropic's Messages
 * passed through as they are (only Anthropic deployments serve those).
 */
export type EndpointKind = "chat" | "completions" | "embeddings" | "messages"

/** The OpenAI endpoints that generate text (the response cache, guardrails and streams deal in these). */
export type GenerationKind = Exclude<EndpointKind, "embeddings" | "messages">

/** One call to one deployment, at the OpenAI-request level. */
export interface ProviderCall {
  readonly kind: EndpointKind
  readonly deployment: DeploymentConfig
  /** The client's request JSON as sent (unknown fields such as tools or cache_control kept). */
  readonly body: Readonly<Record<string, unknown>>
  /** The same request validated and tokenized for the served model; memoized (local deployments). */
  readonly local: Effect.Effect<LocalRequest, ProviderError, Engine>
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
  /** Whether it can serve this kind of request at all (default: both); a group routes only to those that can. */
  readonly serves?: (kind: EndpointKind) => boolean
  readonly complete: (call: ProviderCall) => Effect.Effect<CompleteResult, ProviderError, Engine>
  /** Anthropic's count_tokens for a messages request, where the provider has one (Anthropic's). */
  readonly countTokens?: (call: ProviderCall) => Effect.Effect<CompleteResult, ProviderError>
  readonly stream: (call: ProviderCall) => Effect.Effect<Stream.Stream<string, ProviderError>, ProviderError, Scope.Scope | Engine>
}

/** A deployment that did not answer in time: retried elsewhere like a connection error. */
export const timedOut = (d: DeploymentConfig, what: string, ms: number) =>
  new ProviderError({ kind: "timeout", message: `Deployment ${d.id} timed out: no ${what} within ${ms} ms.`, deployment: d.id })

/**
 * A failed attempt or routing decision, as a reason (`kind`) with what the client may be told, and no
 * HTTP status: src/http/error-mapping.ts turns it into the API's error at the edge.
 */
export class ProviderError extends Data.TaggedError("ProviderError")<{
  readonly kind: FailureKind
  /** What the client may read: no upstream host, port or raw error text (those go in `detail`). */
  readonly message: string
  /** For the server log only: where and how the upstream failed. */
  readonly detail?: string | undefined
  /** The request field at fault (bad_request). */
  readonly param?: string | null | undefined
  /** The error code to answer with, when it is not the kind's own (an upstream's 4xx code, a router refusal). */
  readonly code?: string | null | undefined
  /** The status an upstream refused the request with (a 4xx the client should see as it is). */
  readonly upstreamStatus?: number | undefined
  /** The upstream's Retry-After, when it sent one. */
  readonly retryAfterMs?: number | undefined
  /** Attempts made over all groups, when this is the router's final answer (x-inferline-attempts). */
  readonly attempts?: number | undefined
  /** The deployment that failed, when one did. */
  readonly deployment?: string | undefined
}> {}
