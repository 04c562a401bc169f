import { Cause, Clock, Context, Effect, Exit, Option, Scope, Stream } from "effect"
import type { Engine } from "../actors/engine.ts"
import { onStreamExit, prependToPull, pullFirst } from "../effect/stream-pull.ts"
import { withTracedSpan } from "../observability/traced-span.ts"
import { checkGroupReferences, type DeploymentConfig, type ProviderName, type RouterConfig } from "./config.ts"
import { CircuitBreaker } from "./circuit-breaker.ts"
import { DeploymentState } from "./deployment-state.ts"
import { isRetryable } from "./failure-kind.ts"
import { anthropicHeaders, anthropicProvider } from "./providers/anthropic.ts"
import { localProvider } from "./providers/local.ts"
import type { LocalRequest } from "./providers/local-request.ts"
import { openAiHeaders, openAiProvider } from "./providers/openai.ts"
import { disaggregatedProvider } from "./providers/disaggregated.ts"
import { ProviderError, timedOut, type CompleteResult, type EndpointKind, type Provider, type ProviderCall } from "./providers/provider.ts"
import { makeUpstreamPool } from "./providers/upstream-http.ts"
import { retryDelayMs } from "./retry-delay.ts"
import { candidates, fallbacksFor, retriesFor } from "./route-plan.ts"
import { makeSemanticRouter, type SemanticRouter } from "./semantic-router.ts"
import { embeddingVectors } from "./embeddings-client.ts"
import { estimatePromptTokens } from "./estimate-tokens.ts"
import { UsageMeter } from "../api/usage-meter.ts"
import { DEFAULT_TAG, deploymentsForTags } from "./tag-filter.ts"
import { sharedDeploymentKey, type RouterSharedStateService } from "./shared-state.ts"
import { runHealthChecks } from "./health-checks.ts"
import { makeSharedAdmission } from "./shared-admission.ts"

/** One client request, as the router needs it. */
export interface RouteRequest {
  readonly kind: EndpointKind
  /** The model group asked for (`model` in the body; the served model when absent). */
  readonly group: string
  readonly body: Readonly<Record<string, unknown>>
  /** Prompt tokens: exact when the request was tokenized for the served model, else estimated. */
  readonly promptTokens: number
  /** The request validated and tokenized for the served model (memoized; run only if it serves). */
  readonly local: Effect.Effect<LocalRequest, ProviderError, Engine>
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
  /** The served model's group (--served-model-name), with the engine as deployment `local`; null for a gateway without a model (--no-model). */
  readonly servedModel: string | null
  /** Every group name clients may ask for, the served model's first. */
  readonly groupNames: ReadonlyArray<string>
  /** The group a requested model name means: itself, or the group it is an alias of (model_group_alias). */
  readonly groupFor: (model: string) => string
  /** The aliases /v1/models lists (not hidden), each with its group. */
  readonly visibleAliases: ReadonlyArray<{ readonly alias: string; readonly group: string }>
  /** The providers behind a group, or undefined when no such group exists. */
  readonly providersOf: (group: string) => ReadonlySet<ProviderName> | undefined
  /** Fails with the last attempt's error (its `attempts` set) when no deployment answered. */
  readonly complete: (request: RouteRequest) => Effect.Effect<Routed<CompleteResult>, ProviderError, Engine>
  /** A messages request's token count by a deployment that counts them (Anthropic's), with the group's retries. */
  readonly countTokens: (request: RouteRequest) => Effect.Effect<Routed<CompleteResult>, ProviderError, Engine>
  /** Succeeds once a deployment has produced its first chunk: until then failures fall back transparently. */
  readonly stream: (request: RouteRequest) => Effect.Effect<Routed<Stream.Stream<string, ProviderError>>, ProviderError, Engine | Scope.Scope>
  /** Intent routing, when configured: requests for its `model` are sent to the group it picks. */
  readonly semantic: SemanticRouter | undefined
  /** A deployment's live state (tests, metrics). */
  readonly deployment: (id: string) => DeploymentState | undefined
  /** Every deployment's live state: the config's, then the served model's. */
  readonly deployments: () => ReadonlyArray<DeploymentState>
}

export interface RouterOptions {
  /** The served model's name: its group always exists and includes the engine. null: no served model (--no-model). */
  readonly servedModel: string | null
  /** Uniform in [0, 1): the shuffle and tie breaks (seeded in tests). */
  readonly random?: () => number
  /** Replaces the built-in providers (tests drive the routing logic with scripted ones). */
  readonly providers?: Partial<Record<ProviderName, Provider>>
  /** State shared with other replicas (cooldowns, usage per minute); none: this replica's own only. */
  readonly shared?: RouterSharedStateService | undefined
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
  new ProviderError({ kind: "rate_limited", message: `No deployment of ${group} is available (all in cooldown or at their rpm/tpm limits).`, retryAfterMs })

/**
 * How long until one of a group's deployments takes requests again, for the 429's Retry-After: the
 * first cooldown's end, else (all at their rpm/tpm limits) the start of the next minute, else (at their
 * parallel caps) a second.
 */
const freeAgainInMs = (deployments: ReadonlyArray<DeploymentState>, now: number): number => {
  const reopens = deployments.map((d) => d.breaker.reopensAt).filter((t) => t > now)
  if (reopens.length === deployments.length) return Math.min(...reopens) - now
  if (deployments.some((d) => d.config.rpm !== undefined || d.config.tpm !== undefined)) return 60_000 - (now % 60_000)
  return 1000
}

const noTaggedDeployment = (group: string, tags: ReadonlyArray<string>) =>
  new ProviderError({
    kind: "bad_request",
    message: tags.length === 0
      ? `No deployment of ${group} serves requests without tags.`
      : `No deployment of ${group} carries any of the request's tags (${tags.join(", ")}) or the tag "${DEFAULT_TAG}".`,
    param: "tags",
    code: "no_deployment_for_tags"
  })

const ENDPOINT_NAMES: Readonly<Record<EndpointKind, string>> = { chat: "chat completions", completions: "legacy completions", embeddings: "embeddings", messages: "Anthropic messages natively" }

/**
 * Whether a deployment takes this kind of request: its provider must serve it, and its mode must fit
 * (an `embedding` deployment only embeds; the served model does both).
 */
const servesKind = (d: DeploymentState, kind: EndpointKind): boolean =>
  (d.provider.serves?.(kind) ?? true) && (d.config.provider === "local" || (kind === "embeddings") === (d.config.mode === "embedding"))

const noServingDeployment = (group: string, kind: EndpointKind) =>
  new ProviderError({
    kind: "bad_request",
    message: `No deployment of ${group} serves ${ENDPOINT_NAMES[kind]}.`,
    param: "model",
    code: "unsupported_endpoint"
  })

const contextWindowExceeded = (group: string, tokens: number) =>
  new ProviderError({ kind: "context_window", message: `The prompt (about ${tokens} tokens) is longer than any deployment of ${group} accepts.` })

/** The same failure with more said about it: which deployment failed, how many attempts were made. */
const annotated = (e: ProviderError, more: { readonly deployment?: string; readonly attempts?: number }) =>
  new ProviderError({
    kind: e.kind,
    message: e.message,
    detail: e.detail,
    param: e.param,
    code: e.code,
    upstreamStatus: e.upstreamStatus,
    retryAfterMs: e.retryAfterMs,
    deployment: e.deployment ?? more.deployment,
    attempts: e.attempts ?? more.attempts
  })

type GroupResult<A> = { readonly ok: Routed<A> } | { readonly error: ProviderError }

/**
 * Builds the router of a config around the served model; `close` ends its upstream connection pools
 * (routerLayer calls it). Throws RouterConfigError when a setting names a group that does not exist.
 */
export const makeRouter = (config: RouterConfig, options: RouterOptions): RouterService & { readonly close: () => void; readonly runBackground: Effect.Effect<void, never, Scope.Scope> } => {
  const random = options.random ?? Math.random
  const shared = options.shared
  const usageBased = config.settings.strategy === "usage-based-routing" || config.settings.strategy === "usage-based-routing-v2"
  const settings = config.settings
  const servedModel = options.servedModel
  checkGroupReferences(config, servedModel)
  const pool = makeUpstreamPool(settings.maxConnectionsPerHost)
  const openAi = openAiProvider(pool)
  const providers: Record<ProviderName, Provider> = { local: localProvider, openai: openAi, anthropic: anthropicProvider(pool), disaggregated: disaggregatedProvider(openAi), ...options.providers }
  const breaker = () => new CircuitBreaker({ allowedFails: settings.allowedFails, windowMs: settings.failWindowMs, cooldownMs: settings.cooldownMs })
  const states = new Map<string, DeploymentState>()
  const groups = new Map<string, Array<DeploymentState>>()
  for (const d of config.deployments) {
    const state = new DeploymentState(d, providers[d.provider], breaker())
    states.set(d.id, state)
    groups.set(d.group, [...(groups.get(d.group) ?? []), state])
  }
  // The served model's group gets the engine unless the config lists a local deployment in it already.
  const served = servedModel === null ? [] : groups.get(servedModel) ?? []
  if (servedModel !== null && !served.some((d) => d.config.provider === "local")) {
    const local = new DeploymentState(localDeploymentConfig(servedModel), providers.local, breaker())
    states.set(LOCAL_DEPLOYMENT_ID, local)
    groups.set(servedModel, [...served, local])
  }
  // Intent routing embeds through this router (`complete` is defined below; it runs only per request).
  const semantic = config.semantic === undefined ? undefined : makeSemanticRouter(config.semantic, (input) => embedThrough(config.semantic!.embeddingGroup, input))
  // With shared state, attempts are admitted over all replicas too (rpm/tpm, parallel slots).
  const admission = shared === undefined ? undefined : makeSharedAdmission(shared, usageBased)

  /**
   * One request's way through the router: what it asks, how an attempt is made (complete, or the start
   * of a stream), and the attempts made so far over all groups (for the x-inferline-attempts header).
   */
  interface RouteRun {
    readonly request: RouteRequest
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
    const error = failure.value.deployment === undefined ? annotated(failure.value, { deployment: chosen.config.id }) : failure.value
    const last = retry >= retriesFor(settings, error.kind)
    const outcome: AttemptOutcome = !last ? "retry" : error.kind === "bad_request" ? "error" : fallbacksFor(settings, group, error.kind, (g) => groups.has(g)).length > 0 || pending() ? "fallback" : "error"
    yield* Effect.annotateCurrentSpan("inferline.outcome", outcome)
    yield* Effect.annotateCurrentSpan("inferline.error", error.message)
    if (error.kind !== "bad_request" && error.kind !== "context_window" && error.kind !== "content_policy") {
      yield* Effect.logWarning(`router: attempt ${n} on deployment ${chosen.config.id} (group ${group}) failed (${error.kind}): ${error.detail ?? error.message}; next: ${outcome}`)
    }
    return { error } satisfies GroupResult<unknown>
  })

  /**
   * The first of the strategy's candidates whose breaker lets the request through and, with usage-based
   * routing and shared state, that the replicas together have not filled up this minute (its rpm counted
   * in Redis, one INCR per attempt; unknown when Redis does not answer, and then this replica's count decides).
   */
  const pick = Effect.fnUntraced(function*(run: RouteRun, deployments: ReadonlyArray<DeploymentState>, tried: ReadonlySet<string>, now: number) {
    for (const d of candidates(settings, deployments, tried, { now, promptTokens: run.request.promptTokens, random })) {
      if (!d.breaker.tryAcquire(now)) continue
      if (admission === undefined || (yield* admission.admit(d, run.request, now))) return d
      d.breaker.onAbandon()
    }
    return undefined
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
      const chosen = yield* pick(run, deployments, tried, now)
      if (chosen === undefined) {
        return { error: previous ?? noDeployment(group, freeAgainInMs(deployments, now)) } satisfies GroupResult<unknown>
      }
      tried.add(chosen.config.id)
      run.attempts += 1
      const n = run.attempts
      const result = yield* attemptOn(run, group, chosen, n, retry, pending).pipe(withTracedSpan("router.attempt", {
        attributes: { "inferline.deployment": chosen.config.id, "inferline.attempt": n, "inferline.provider": chosen.config.provider, "inferline.group": group }
      }))
      if ("ok" in result) return result
      previous = result.error
      if (retry >= retriesFor(settings, previous.kind)) return result
    }
  })

  /** The deployments of a group that may take this request, or why none may. */
  const eligible = (group: string, deployments: ReadonlyArray<DeploymentState>, request: RouteRequest): ReadonlyArray<DeploymentState> | ProviderError => {
    const serving = deployments.filter((d) => servesKind(d, request.kind))
    if (serving.length === 0) return noServingDeployment(group, request.kind)
    const tagged = settings.tagFiltering ? deploymentsForTags(serving, request.tags ?? []) : serving
    if (tagged.length === 0) return noTaggedDeployment(group, request.tags ?? [])
    // Checked before calling: a prompt longer than a deployment accepts never goes to it.
    const fitting = tagged.filter((d) => d.config.maxInputTokens === undefined || request.promptTokens <= d.config.maxInputTokens)
    return fitting.length === 0 ? contextWindowExceeded(group, request.promptTokens) : fitting
  }

  /** The groups in order: the one asked for, then the fallbacks for each failure's kind. */
  const runRoute = Effect.fnUntraced(function*(run: RouteRun) {
    const queue = [run.request.group]
    const visited = new Set<string>()
    let lastError: ProviderError | undefined
    while (queue.length > 0) {
      const group = queue.shift()!
      if (visited.has(group)) continue
      visited.add(group)
      const deployments = groups.get(group)
      if (deployments === undefined) continue
      const chosen = eligible(group, deployments, run.request)
      const result = chosen instanceof ProviderError ? { error: chosen } : yield* runGroup(run, group, chosen, () => queue.length > 0)
      if ("ok" in result) return result.ok
      lastError = result.error
      if (lastError.kind === "bad_request") break
      queue.unshift(...fallbacksFor(settings, group, lastError.kind, (g) => groups.has(g)))
    }
    return yield* Effect.fail(annotated(lastError ?? noDeployment(run.request.group, undefined), { attempts: run.attempts }))
  })

  /**
   * Routes a request: the group's deployments in the strategy's order, with retries (backoff with jitter)
   * on retryable failures, then the fallback groups. Each attempt is a `router.attempt` span.
   */
  const route = <A, R>(request: RouteRequest, attempt: (d: DeploymentState, call: ProviderCall) => Effect.Effect<A, ProviderError, R>): Effect.Effect<Routed<A>, ProviderError, R> =>
    // A RouteRun per run of the effect (it counts attempts). The generators above are not generic: the
    // attempt's value and requirements are put back here.
    Effect.suspend(() => runRoute({ request, attempt, attempts: 0 })) as Effect.Effect<Routed<A>, ProviderError, R>

  /** Ends an attempt on `d` (see DeploymentState.end) and says so in the log when it put `d` in cooldown. */
  const endAttempt = (d: DeploymentState, request: RouteRequest, exit: Exit.Exit<unknown, unknown>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const tokens = Exit.isSuccess(exit) ? Math.max(0, request.meter.total - request.promptTokens) : 0
      const cooled = d.end(now, exit, tokens)
      const usage = admission === undefined ? Effect.void : admission.end(d, request, now, request.promptTokens + tokens)
      if (!cooled) return usage
      return Effect.andThen(usage, Effect.andThen(
        Effect.logWarning(`router: deployment ${d.config.id} (group ${d.config.group}) is in cooldown for ${settings.cooldownMs / 1000} s`),
        shared === undefined ? Effect.void : shared.publishCooldown(sharedDeploymentKey(d.config), d.breaker.reopensAt)
      ))
    })

  /**
   * Bookkeeping around one attempt, in finalizers so that interruption cannot skip it: begin, then on
   * success `answered`, and the attempt's end unless `endsLater` (a stream ends when its body does).
   */
  const tracked = <A, E, R>(d: DeploymentState, request: RouteRequest, body: Effect.Effect<A, E, R>, endsLater: boolean) =>
    Effect.clockWith((clock) => {
      const started = clock.currentTimeMillisUnsafe()
      d.begin(started, request.promptTokens)
      return body.pipe(Effect.onExit((exit) => {
        if (Exit.isSuccess(exit)) d.answered(clock.currentTimeMillisUnsafe() - started)
        return Exit.isSuccess(exit) && endsLater ? Effect.void : endAttempt(d, request, exit)
      }))
    })

  const complete = (request: RouteRequest) =>
    route(request, (d, call) =>
      tracked(
        d,
        request,
        d.provider.completeTimesOut === true
          ? d.provider.complete(call)
          : d.provider.complete(call).pipe(
            Effect.timeoutOrElse({ duration: d.config.timeoutMs, orElse: () => Effect.fail(timedOut(d.config, "response", d.config.timeoutMs)) })
          ),
        false
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
        true
      )
    )
    if (Exit.isFailure(started)) {
      yield* Scope.close(scope, started)
      return yield* Effect.failCause(started.cause)
    }
    const { pull, first } = started.value
    return (prependToPull(first, pull) as Stream.Stream<string, ProviderError>).pipe(
      // The attempt's scope closes with the stream's own exit, so an interrupted stream reads as
      // interrupted to what runs in it (the engine counts an abort).
      onStreamExit((exit) => Effect.andThen(endAttempt(d, request, exit), Scope.close(scope, exit)))
    )
  })

  const stream = (request: RouteRequest) => Effect.flatMap(Effect.scope, (requestScope) => route(request, (d, call) => streamAttempt(d, call, request, requestScope)))

  /** Texts embedded by a group's embedding deployments, as a /v1/embeddings request is routed (no ledger row: an internal call). */
  const embedThrough = (group: string, input: ReadonlyArray<string>) =>
    Effect.flatMap(
      complete({
        kind: "embeddings",
        group,
        body: { input },
        promptTokens: estimatePromptTokens({ input }),
        local: Effect.die("the served model is not an intent router's embedding group"),
        meter: new UsageMeter(0)
      }),
      (routed) => {
        const vectors = embeddingVectors(routed.value.json, input.length)
        return typeof vectors === "string"
          ? Effect.fail(new ProviderError({ kind: "server", message: `the embedding deployment ${routed.deployment} answered with a body that is not usable.`, detail: vectors, code: "bad_embeddings", deployment: routed.deployment }))
          : Effect.succeed(vectors)
      }
    )

  return {
    config,
    servedModel,
    groupNames: [...(servedModel === null ? [] : [servedModel]), ...[...groups.keys()].filter((g) => g !== servedModel)],
    groupFor: (model) => settings.aliases.get(model)?.group ?? model,
    visibleAliases: [...settings.aliases].filter(([, a]) => !a.hidden).map(([alias, a]) => ({ alias, group: a.group })),
    providersOf: (group) => {
      const deployments = groups.get(group)
      return deployments === undefined ? undefined : new Set(deployments.map((d) => d.config.provider))
    },
    complete,
    countTokens: (request) =>
      route(request, (d, call) =>
        d.provider.countTokens === undefined
          ? Effect.fail(noServingDeployment(request.group, request.kind))
          // Tracked like any call: the deployment's breaker, in-flight count and cooldown see it.
          : tracked(d, request, d.provider.countTokens(call).pipe(
            Effect.timeoutOrElse({ duration: d.config.timeoutMs, orElse: () => Effect.fail(timedOut(d.config, "response", d.config.timeoutMs)) })
          ), false)),
    stream,
    semantic,
    deployment: (id) => states.get(id),
    deployments: () => [...states.values()],
    close: pool.close,
    // Background work for the life of the router: health checks, and cooldowns entered on other replicas
    // honoured here (the served model's `local` is this replica's own).
    runBackground: Effect.andThen(
      settings.healthCheckIntervalMs === undefined ? Effect.void : runHealthChecks({
        intervalMs: settings.healthCheckIntervalMs,
        deployments: [...states.values()],
        headersOf: (d) => (d.provider === "anthropic" ? anthropicHeaders(d) : openAiHeaders(d)),
        onCooldown: (d) => Effect.andThen(
          Effect.logWarning(`router: deployment ${d.config.id} (group ${d.config.group}) is in cooldown for ${settings.cooldownMs / 1000} s`),
          shared === undefined ? Effect.void : shared.publishCooldown(sharedDeploymentKey(d.config), d.breaker.reopensAt)
        )
      }),
      shared === undefined
      ? Effect.void
      : Effect.suspend(() => {
        const byKey = new Map(config.deployments.map((d) => [sharedDeploymentKey(d), d.id]))
        return Effect.andThen(
          admission?.refresh ?? Effect.void,
          shared.listenCooldowns([...byKey.keys()], (key, until) => states.get(byKey.get(key) ?? "")?.breaker.openUntilAt(until))
        )
      }))
  }
}

/**
 * The router of the current server: model groups over the served model and the config's deployments
 * (src/router/layer.ts builds it).
 */
export class Router extends Context.Service<Router, RouterService>()("inferline/router/Router") {}
