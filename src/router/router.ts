import { Cause, Clock, Context, Effect, Exit, Option, Scope, Stream } from "effect"
import type { Engine } from "../actors/engine.ts"
import { ApiError } from "../http/errors.ts"
import { withTracedSpan } from "../observability/traced-span.ts"
import { emptyRouterConfig, RouterConfigError, type DeploymentConfig, type ProviderName, type RouterConfig } from "./config.ts"
import { CircuitBreaker } from "./circuit-breaker.ts"
import { DeploymentState } from "./deployment-state.ts"
import { anthropicProvider } from "./providers/anthropic.ts"
import { localProvider } from "./providers/local.ts"
import type { LocalRequest } from "./providers/local-request.ts"
import { openAiProvider } from "./providers/openai.ts"
import { isRetryable, ProviderError, timedOut, toApiError, type CompleteResult, type EndpointKind, type FailureKind, type Provider, type ProviderCall } from "./providers/provider.ts"
import { makeUpstreamPool } from "./providers/upstream-http.ts"
import { retryDelayMs } from "./retry-delay.ts"
import { makeSemanticRouter, type SemanticRouter } from "./semantic-router.ts"
import { rank } from "./strategies.ts"
import { DEFAULT_TAG, deploymentsForTags } from "./tag-filter.ts"
import type { UsageMeter } from "./usage-meter.ts"
import { onStreamExit, prependToPull, pullFirst } from "../effect/stream-pull.ts"

/** One client request, as the router needs it. */
export interface RouteRequest {
  readonly kind: EndpointKind
  /** The model group asked for (`model` in the body; the served model when absent). */
  readonly group: string
  readonly body: Readonly<Record<string, unknown>>
  /** Prompt tokens: exact when the request was tokenized for the served model, else estimated. */
  readonly promptTokens: number
  readonly local: Effect.Effect<LocalRequest, ApiError, Engine>
  readonly meter: UsageMeter
  /** The request's tags (body `tags`, `x-inferline-tags`): with tag filtering on, they pick deployments. */
  readonly tags?: ReadonlyArray<string>
}

/** A routed result and who produced it (for response headers, spend logs and traces). */
export interface Routed<A> {
  readonly value: A
  readonly group: string
  readonly deployment: string
  readonly provider: ProviderName
  /** Attempts made, all groups together (1 when the first deployment answered). */
  readonly attempts: number
}

export type AttemptOutcome = "ok" | "retry" | "fallback" | "error"

export interface RouterService {
  readonly config: RouterConfig
  /** Every group name clients may ask for, the served model's first. */
  readonly groupNames: (localModel: string) => ReadonlyArray<string>
  /** The group a requested model name means: itself, or the group it is an alias of (model_group_alias). */
  readonly groupFor: (model: string) => string
  /** The aliases /v1/models lists (not hidden), each with its group. */
  readonly visibleAliases: ReadonlyArray<{ readonly alias: string; readonly group: string }>
  /** The providers behind a group, or undefined when no such group exists. */
  readonly providersOf: (group: string, localModel: string) => ReadonlySet<ProviderName> | undefined
  readonly complete: (request: RouteRequest, localModel: string) => Effect.Effect<Routed<CompleteResult>, ApiError, Engine>
  /** Succeeds once a deployment has produced its first chunk: until then failures fall back transparently. */
  readonly stream: (request: RouteRequest, localModel: string) => Effect.Effect<Routed<Stream.Stream<string, ApiError>>, ApiError, Engine | Scope.Scope>
  /** Intent routing, when configured: requests for its `model` are sent to the group it picks. */
  readonly semantic: SemanticRouter | undefined
  /** A deployment's live state (tests, metrics). */
  readonly deployment: (id: string) => DeploymentState | undefined
  /** Every deployment's live state: the config's, then the served model's once it has been routed to. */
  readonly deployments: () => ReadonlyArray<DeploymentState>
  readonly close: () => void
}

export interface RouterOptions {
  /** Uniform in [0, 1): the shuffle and tie breaks (seeded in tests). */
  readonly random?: () => number
  /** Replaces the built-in providers (tests drive the routing logic with scripted ones). */
  readonly providers?: Partial<Record<ProviderName, Provider>>
}

/** The served model as a deployment: always there, in the group named by --served-model-name. */
export const LOCAL_DEPLOYMENT_ID = "local"

const localDeploymentConfig = (group: string): DeploymentConfig => ({
  id: LOCAL_DEPLOYMENT_ID,
  group,
  provider: "local",
  model: group,
  apiBase: "",
  apiKey: undefined,
  rpm: undefined,
  tpm: undefined,
  weight: undefined,
  timeoutMs: 600_000,
  streamTimeoutMs: 600_000,
  maxInputTokens: undefined,
  maxParallelRequests: undefined,
  order: undefined,
  extraHeaders: {},
  prices: { input: 0, cachedInput: 0, output: 0 },
  tags: []
})

const noDeployment = (group: string, retryAfterMs: number | undefined) =>
  new ProviderError({
    kind: "rate_limited",
    status: 429,
    message: `No deployment of ${group} is available (all in cooldown or at their rpm/tpm limits).`,
    retryAfterMs
  })

const noTaggedDeployment = (group: string, tags: ReadonlyArray<string>) => {
  const message = tags.length === 0
    ? `No deployment of ${group} serves requests without tags.`
    : `No deployment of ${group} carries any of the request's tags (${tags.join(", ")}) or the tag "${DEFAULT_TAG}".`
  return new ProviderError({
    kind: "bad_request",
    status: 400,
    message,
    apiError: new ApiError({ status: 400, type: "invalid_request_error", message, param: "tags", code: "no_deployment_for_tags" })
  })
}

const contextWindowExceeded = (group: string, tokens: number) =>
  new ProviderError({ kind: "context_window", status: 400, message: `The prompt (about ${tokens} tokens) is longer than any deployment of ${group} accepts.` })

const underParallelCap = (d: DeploymentState) => d.config.maxParallelRequests === undefined || d.inFlight < d.config.maxParallelRequests

/** The strategy's ranking, regrouped by `order` (lowest first; unset last), stable within an order. */
const byOrder = (ranked: ReadonlyArray<DeploymentState>): ReadonlyArray<DeploymentState> =>
  ranked.some((d) => d.config.order !== undefined)
    ? ranked.map((d, i) => [d, i] as const).sort(([a, i], [b, j]) => (a.config.order ?? Infinity) - (b.config.order ?? Infinity) || i - j).map(([d]) => d)
    : ranked

/**
 * Failures of the deployment, not of the request: they say something about its health (the breaker
 * counts them), and another attempt may succeed (num_retries applies to them).
 */
const isDeploymentFailure = (kind: FailureKind) => isRetryable(kind) || kind === "deployment"

type GroupResult<A> = { readonly ok: Routed<A> } | { readonly error: ProviderError }

export const makeRouter = (config: RouterConfig, options: RouterOptions = {}): RouterService => {
  const random = options.random ?? Math.random
  const settings = config.settings
  const pool = makeUpstreamPool(settings.maxConnectionsPerHost)
  const providers: Record<ProviderName, Provider> = { local: localProvider, openai: openAiProvider(pool), anthropic: anthropicProvider(pool), ...options.providers }
  const breaker = () => new CircuitBreaker({ allowedFails: settings.allowedFails, windowMs: settings.failWindowMs, cooldownMs: settings.cooldownMs })
  const states = new Map<string, DeploymentState>()
  const groups = new Map<string, Array<DeploymentState>>()
  for (const d of config.deployments) {
    const state = new DeploymentState(d, providers[d.provider], breaker())
    states.set(d.id, state)
    groups.set(d.group, [...(groups.get(d.group) ?? []), state])
  }
  let local: DeploymentState | undefined
  let semantic: SemanticRouter | undefined
  if (config.semantic !== undefined) {
    const embedder = config.deployments.find((d) => d.group === config.semantic!.embeddingGroup && d.provider === "openai")
    if (embedder === undefined) throw new RouterConfigError({ message: `semantic_routing.embedding_model: no OpenAI-compatible deployment in group ${config.semantic.embeddingGroup}` })
    for (const [i, route] of config.semantic.routes.entries()) {
      if (!groups.has(route.group)) throw new RouterConfigError({ message: `semantic_routing.routes[${i}].group: no model group named ${route.group}` })
    }
    semantic = makeSemanticRouter(config.semantic, embedder, pool)
  }

  /** The group's deployments; the served model's group gets the engine unless the config lists it already. */
  const groupOf = (group: string, localModel: string): ReadonlyArray<DeploymentState> | undefined => {
    const configured = groups.get(group)
    if (group !== localModel) return configured
    if (configured?.some((d) => d.config.provider === "local")) return configured
    if (local === undefined || local.config.group !== localModel) {
      local = new DeploymentState(localDeploymentConfig(localModel), providers.local, breaker())
      states.set(LOCAL_DEPLOYMENT_ID, local)
    }
    return configured === undefined ? [local] : [...configured, local]
  }

  /** How many times a failure of this kind is retried in its group (retry_policy, else num_retries for the retryable kinds). */
  const retriesFor = (kind: FailureKind): number =>
    settings.retryPolicy.get(kind) ?? (isDeploymentFailure(kind) ? settings.numRetries : 0)

  /** The fallback groups for a failure of this kind, in order (the general list when it has none of its own). */
  const fallbacksFor = (group: string, e: ProviderError, localModel: string): ReadonlyArray<string> => {
    const lists = e.kind === "context_window" ? settings.contextWindowFallbacks : e.kind === "content_policy" ? settings.contentPolicyFallbacks : undefined
    const specific = lists?.get(group) ?? lists?.get("*")
    const targets = specific ?? (e.kind === "bad_request" ? [] : settings.fallbacks.get(group) ?? settings.fallbacks.get("*") ?? [])
    // Only groups that exist (the served model's is known once the engine is): a typo is skipped, not
    // routed; a wildcard list does not send a group to itself.
    return targets.filter((g) => g !== group && (g === localModel || groups.has(g)))
  }

  /**
   * One request's way through the router: what it asks, how an attempt is made (complete, or the start
   * of a stream), and the attempts made so far over all groups (for the x-inferline-attempts header).
   */
  interface RouteRun {
    readonly request: RouteRequest
    readonly localModel: string
    readonly attempt: (d: DeploymentState, call: ProviderCall) => Effect.Effect<unknown, ProviderError, any>
    attempts: number
  }

  // The generators below are made once per router and run with each request's RouteRun: a generator
  // function created per request gets its own object map from V8, which keeps everything it captured
  // alive through young-generation GCs (see bench/scavenge-survivors.ts).

  /** One attempt on `chosen` (its `router.attempt` span is put around it by the caller). */
  const attemptOn = Effect.fnUntraced(function*(run: RouteRun, group: string, chosen: DeploymentState, n: number, retry: number, pending: () => boolean) {
    const request = run.request
    const call: ProviderCall = { kind: request.kind, deployment: chosen.config, body: request.body, local: request.local, meter: request.meter }
    const exit = yield* Effect.exit(run.attempt(chosen, call))
    if (Exit.isSuccess(exit)) {
      yield* Effect.annotateCurrentSpan("inferline.outcome", "ok")
      return { ok: { value: exit.value, group, deployment: chosen.config.id, provider: chosen.config.provider, attempts: n } } satisfies GroupResult<unknown>
    }
    const failure = Cause.findErrorOption(exit.cause)
    if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    const error = failure.value
    const last = retry >= retriesFor(error.kind)
    const outcome: AttemptOutcome = !last ? "retry" : error.kind === "bad_request" ? "error" : fallbacksFor(group, error, run.localModel).length > 0 || pending() ? "fallback" : "error"
    yield* Effect.annotateCurrentSpan("inferline.outcome", outcome)
    yield* Effect.annotateCurrentSpan("inferline.error", error.message)
    return { error } satisfies GroupResult<unknown>
  })

  /** A group's deployments in the strategy's order, with retries (backoff with jitter) on retryable failures. */
  const runGroup = Effect.fnUntraced(function*(run: RouteRun, group: string, deployments: ReadonlyArray<DeploymentState>, pending: () => boolean) {
    const tried = new Set<string>()
    let previous: ProviderError | undefined
    for (let retry = 0; ; retry++) {
      if (previous !== undefined && isRetryable(previous.kind)) {
        yield* Effect.sleep(retryDelayMs(retry, settings.retryBaseMs, settings.retryMaxMs, previous.retryAfterMs, random))
      }
      const now = yield* Clock.currentTimeMillis
      const ranked = byOrder(rank(settings.strategy, deployments.filter((d) => d.breaker.isAvailable(now) && underParallelCap(d)), { now, promptTokens: run.request.promptTokens, random }))
      // Untried deployments first: a retry goes elsewhere when it can (to the next order once a lower
      // order's deployments were all tried).
      const ordered = [...ranked.filter((d) => !tried.has(d.config.id)), ...ranked.filter((d) => tried.has(d.config.id))]
      const chosen = ordered.find((d) => d.breaker.tryAcquire(now))
      if (chosen === undefined) {
        const reopens = deployments.map((d) => d.breaker.reopensAt).filter((t) => t > now)
        return { error: previous ?? noDeployment(group, reopens.length > 0 ? Math.min(...reopens) - now : undefined) } satisfies GroupResult<unknown>
      }
      tried.add(chosen.config.id)
      run.attempts += 1
      const n = run.attempts
      const result = yield* attemptOn(run, group, chosen, n, retry, pending).pipe(withTracedSpan("router.attempt", {
        attributes: { "inferline.deployment": chosen.config.id, "inferline.attempt": n, "inferline.provider": chosen.config.provider, "inferline.group": group }
      }))
      if ("ok" in result) return result
      previous = result.error
      if (retry >= retriesFor(previous.kind)) return result
    }
  })

  /** The groups in order: the one asked for, then the fallbacks for each failure's kind. */
  const runRoute = Effect.fnUntraced(function*(run: RouteRun) {
    const queue = [run.request.group]
    const visited = new Set<string>()
    let lastError: ProviderError | undefined
    while (queue.length > 0) {
      const group = queue.shift()!
      if (visited.has(group)) continue
      visited.add(group)
      const deployments = groupOf(group, run.localModel)
      if (deployments === undefined) continue
      // Checked before calling: a prompt longer than a deployment accepts never goes to it.
      const tagged = settings.tagFiltering ? deploymentsForTags(deployments, run.request.tags ?? []) : deployments
      const fitting = tagged.filter((d) => d.config.maxInputTokens === undefined || run.request.promptTokens <= d.config.maxInputTokens)
      const result = tagged.length === 0
        ? { error: noTaggedDeployment(group, run.request.tags ?? []) }
        : fitting.length === 0
        ? { error: contextWindowExceeded(group, run.request.promptTokens) }
        : yield* runGroup(run, group, fitting, () => queue.length > 0)
      if ("ok" in result) return result.ok
      lastError = result.error
      if (lastError.kind === "bad_request") break
      queue.unshift(...fallbacksFor(group, lastError, run.localModel))
    }
    const error = toApiError(lastError ?? noDeployment(run.request.group, undefined))
    return yield* Effect.fail(new ApiError({
      status: error.status,
      type: error.type,
      message: error.message,
      param: error.param,
      code: error.code,
      headers: { ...error.headers, "x-inferline-attempts": String(run.attempts) }
    }))
  })

  /**
   * Routes a request: the group's deployments in the strategy's order, with retries (backoff with jitter)
   * on retryable failures, then the fallback groups. Each attempt is a `router.attempt` span.
   */
  const route = <A, R>(
    request: RouteRequest,
    localModel: string,
    attempt: (d: DeploymentState, call: ProviderCall) => Effect.Effect<A, ProviderError, R>
  ): Effect.Effect<Routed<A>, ApiError, R> =>
    // A RouteRun per run of the effect (it counts attempts). The generators above are not generic: the
    // attempt's value and requirements are put back here.
    Effect.suspend(() => runRoute({ request, localModel, attempt, attempts: 0 })) as Effect.Effect<Routed<A>, ApiError, R>

  /** The end of a successful attempt's work (response read, or stream ended): its tokens count toward tpm. */
  const finish = (d: DeploymentState, request: RouteRequest, now: number) => {
    d.inFlight -= 1
    d.recordTokens(now, Math.max(0, request.meter.total - request.promptTokens))
  }

  /**
   * Bookkeeping around one attempt, in finalizers so that interruption cannot skip it: in-flight count,
   * rpm/tpm usage, circuit breaker, latency. `onSuccess` gets the time taken and the time now.
   */
  const tracked = <A, E, R>(d: DeploymentState, request: RouteRequest, body: Effect.Effect<A, ProviderError | E, R>, onSuccess: (elapsedMs: number, now: number) => void) =>
    Effect.clockWith((clock) => {
      const started = clock.currentTimeMillisUnsafe()
      d.inFlight += 1
      d.recordRequest(started, request.promptTokens)
      return body.pipe(Effect.onExit((exit) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          if (Exit.isSuccess(exit)) {
            d.breaker.onSuccess()
            return onSuccess(now - started, now)
          }
          d.inFlight -= 1
          const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
          if (error instanceof ProviderError && isDeploymentFailure(error.kind)) d.breaker.onFailure(now)
          else d.breaker.onAbandon()
        })
      ))
    })

  const complete = (request: RouteRequest, localModel: string) =>
    route(request, localModel, (d, call) =>
      tracked(
        d,
        request,
        d.provider.completeTimesOut === true
          ? d.provider.complete(call)
          : d.provider.complete(call).pipe(
            Effect.timeoutOrElse({ duration: d.config.timeoutMs, orElse: () => Effect.fail(timedOut(d.config, "response", d.config.timeoutMs)) })
          ),
        (ms, now) => {
          d.recordLatency(ms)
          finish(d, request, now)
        }
      ))

  /** One stream attempt: succeeds with the stream once its first chunk is in. */
  const streamAttempt = Effect.fnUntraced(function*(d: DeploymentState, call: ProviderCall, request: RouteRequest, requestScope: Scope.Scope) {
    // The attempt's own scope: closed at once when the attempt fails (the upstream request is aborted
    // before the next attempt starts), else when the stream ends or the client leaves.
    const scope = yield* Scope.fork(requestScope)
    const started = yield* Effect.exit(
      tracked(
        d,
        request,
        // The upstream stream, pulled in the attempt's scope until its first chunk.
        Effect.flatMap(d.provider.stream(call), (chunks) => pullFirst(chunks, scope)).pipe(
          Scope.provide(scope),
          Effect.timeoutOrElse({ duration: d.config.streamTimeoutMs, orElse: () => Effect.fail(timedOut(d.config, "first chunk", d.config.streamTimeoutMs)) })
        ),
        (ms) => d.recordLatency(ms)
      )
    )
    if (Exit.isFailure(started)) {
      yield* Scope.close(scope, started)
      return yield* Effect.failCause(started.cause)
    }
    const { pull, first } = started.value
    return (prependToPull(first, pull) as Stream.Stream<string, ProviderError>).pipe(
      Stream.tapError((e) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => isDeploymentFailure(e.kind) && d.breaker.onFailure(now)))),
      Stream.mapError(toApiError),
      // The attempt's scope closes with the stream's own exit, so an interrupted stream reads as
      // interrupted to what runs in it (the engine counts an abort).
      onStreamExit((exit) => Effect.andThen(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => finish(d, request, now))), Scope.close(scope, exit)))
    )
  })

  const stream = (request: RouteRequest, localModel: string) =>
    Effect.flatMap(Effect.scope, (requestScope) => route(request, localModel, (d, call) => streamAttempt(d, call, request, requestScope)))

  return {
    config,
    groupNames: (localModel) => [localModel, ...[...groups.keys()].filter((g) => g !== localModel)],
    groupFor: (model) => settings.aliases.get(model)?.group ?? model,
    visibleAliases: [...settings.aliases].filter(([, a]) => !a.hidden).map(([alias, a]) => ({ alias, group: a.group })),
    providersOf: (group, localModel) => {
      const deployments = groupOf(group, localModel)
      return deployments === undefined ? undefined : new Set(deployments.map((d) => d.config.provider))
    },
    complete,
    stream,
    semantic,
    deployment: (id) => states.get(id),
    deployments: () => [...states.values()],
    close: pool.close
  }
}

/**
 * The router of the current server. Without a config it routes everything to the served model (the
 * behaviour of a config-less server); `routerLayerFromConfig` provides one built from `--config`.
 */
export const Router = Context.Reference<RouterService>("inferline/router/Router", { defaultValue: () => makeRouter(emptyRouterConfig()) })
