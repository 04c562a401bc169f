import { Effect, Exit, Schema, Stream, type Scope } from "effect"
import { HttpServerResponse } from "effect/http"
import { requestAttribution } from "./request-attribution.ts"
import { Engine } from "../actors/engine.ts"
import { addFinalizerExit } from "../effect/scope-finalizer.ts"
import type { Gateway } from "../gateway/gateway.ts"
import type { Principal } from "../gateway/principal.ts"
import { Budgets } from "../budgets/budgets.ts"
import { admitTokens, currentPrincipal, settleOnce } from "./admission.ts"
import { decodeJson, readJson } from "./body.ts"
import { withRateLimitHeaders } from "./gateway/authenticate-request.ts"
import { RequestId } from "./gateway/request-id.ts"
import { RequestObserver, type ObservedRequest, type RequestObserverService } from "../observability/request-observer.ts"
import { withTracedParent, withTracedSpan } from "../observability/traced-span.ts"
import { estimatePromptTokens, maxCompletionTokens } from "../router/estimate-tokens.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import { Router, type Routed } from "../router/router.ts"
import { CapturedOutput } from "./captured-output.ts"
import { sseDataResponse } from "./sse.ts"
import { onStreamExit } from "../effect/stream-pull.ts"
import { ApiError, invalidRequest, modelNotFound, modelRequired } from "../api/api-error.ts"
import { fromGatewayError, fromProviderError } from "./error-mapping.ts"
import { ProviderError, type CompleteResult, type GenerationKind } from "../router/providers/provider.ts"
import { UsageMeter, type Usage } from "../api/usage-meter.ts"
import { withoutGatewayFields } from "./request-tags.ts"
import { cacheControlsOf } from "../cache/cache-controls.ts"
import type { CachedResponse } from "../cache/cached-response.ts"
import { ResponseCache, type CacheLookup, type CachePlan } from "../cache/response-cache.ts"
import type { CacheRequester } from "../cache/semantic-request.ts"
import type { Permit } from "../gateway/gateway.ts"
import { replayChunks, StreamAssembler } from "./cache-replay.ts"
import type { GuardrailSpec } from "../guardrails/guardrail-spec.ts"
import { guardInput, outputGuard } from "../guardrails/guardrails.ts"
import { countGuardrail, guardedAnswer, refuse, requestGuardrails, runJudges } from "./request-guardrails.ts"
import { EndUserBudgets } from "../budgets/end-user-budgets.ts"
import { Evaluations } from "../evaluation/evaluations.ts"
import { evaluatedAnswer } from "./evaluated-answer.ts"

/** What every routed request must get right before the group is known (the rest is the upstream's business). */
const RequestHead = Schema.Struct({
  model: Schema.optionalKey(Schema.NullOr(Schema.String)),
  stream: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
})

const isRequestHead = (body: Readonly<Record<string, unknown>>): body is typeof RequestHead.Type => {
  const { model, stream } = body
  return (model === undefined || model === null || typeof model === "string") && (stream === undefined || stream === null || typeof stream === "boolean")
}

export interface RoutedEndpoint {
  readonly kind: GenerationKind
  /** Validates the raw body for the served model and prepares its engine request (chat.ts, completions.ts). */
  readonly prepareLocal: (json: unknown) => Effect.Effect<LocalRequest, ApiError, Engine>
  /** The same for a chat request (what an llm_judge guardrail sends, whatever the endpoint). */
  readonly prepareChat: (json: unknown) => Effect.Effect<LocalRequest, ApiError, Engine>
  /** Chat messages, for the gateway's max_messages guard. */
  readonly messages: (json: Readonly<Record<string, unknown>>) => number | undefined
  /**
   * What a request for upstreams only must get right before it is sent anywhere (`messages` or
   * `prompt` present and shaped as every provider needs them); the upstream validates the rest. A group
   * with the served model validates fully instead (`prepareLocal`).
   */
  readonly shapeError: (json: Readonly<Record<string, unknown>>) => ApiError | undefined
}


/** Response headers naming who served the request. */
export const routedHeaders = (routed: Routed<unknown>, semanticRoute: string | null | undefined): Record<string, string> => ({
  "x-inferline-deployment": routed.deployment,
  "x-inferline-attempts": String(routed.attempts),
  ...(semanticRoute != null && { "x-inferline-route": semanticRoute })
})

/** A routed request's answer, before it becomes an HTTP response. */
export type RoutedAnswer =
  | {
    readonly _tag: "Stream"
    readonly chunks: Stream.Stream<string, ApiError>
    readonly headers: Readonly<Record<string, string>>
    /** The answer's usage as the last chunk says it (for a stream a guardrail ends early). */
    readonly usage: () => Usage
  }
  | { readonly _tag: "Complete"; readonly result: CompleteResult; readonly headers: Readonly<Record<string, string>> }

/**
 * A request body through the gateway and the router, up to its answer: find the group (or let the
 * semantic router pick it), start observing (span, metrics, ledger row), check the budget, answer from
 * the response cache when it holds the answer, else admit (exact tokens when the group has the served
 * model, an estimate otherwise) and route. `headers` are the x-ratelimit-* and x-inferline-* ones.
 */
export const routeBody = Effect.fnUntraced(function*(endpoint: RoutedEndpoint, principal: Principal, json: unknown, stream: boolean) {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return yield* invalidRequest("The request body must be a JSON object.")
  const raw = json as Readonly<Record<string, unknown>>
  // The schema only when the cheap check fails: it is what words the 400.
  const head = isRequestHead(raw) ? raw : yield* decodeJson(RequestHead, raw)
  const { headers, tags, who } = yield* requestAttribution(raw, principal)
  const controls = cacheControlsOf(raw.cache, headers["cache-control"])
  if ("param" in controls) return yield* invalidRequest(controls.message, controls.param)
  const router = yield* Router
  const guardrails = requestGuardrails(router.config.guardrails, principal, raw.guardrails)
  if (guardrails instanceof ApiError) return yield* guardrails
  // pre_call guardrails: personal data masked before anything (the engine, an upstream, the cache key,
  // the span) sees it; a block is answered once the request is observed, below.
  const stripped = withoutGatewayFields(raw)
  const input = guardInput(stripped, guardrails)
  const body = input._tag === "Passed" ? input.body : stripped
  const requestId = yield* RequestId
  const semantic = router.semantic !== undefined && head.model === router.semantic.model
    ? yield* Effect.mapError(router.semantic.resolve(body), (e) => fromProviderError(e, requestId))
    : undefined
  const asked = semantic?.group ?? head.model ?? router.servedModel
  // A gateway without a model has no default group: the request must name one.
  if (asked === null) return yield* modelRequired()
  const group = router.groupFor(asked)
  const providers = router.providersOf(group)
  if (providers === undefined) return yield* modelNotFound(group)

  // The served model validates and tokenizes once, up front when it may serve the request (its errors
  // are the API's 400s, and its token counts are exact), else only if a fallback reaches it.
  const local = yield* Effect.cached(Effect.suspend(() => endpoint.prepareLocal(body)))
  const prepared = providers.has("local") && input._tag === "Passed" ? yield* local : undefined
  if (prepared === undefined) {
    const shapeError = endpoint.shapeError(body)
    if (shapeError !== undefined) return yield* shapeError
  }
  const observer = yield* RequestObserver
  const observed = yield* observer.start({
    requestId,
    operation: endpoint.kind === "chat" ? "chat" : "text_completion",
    modelGroup: group,
    params: body,
    principal,
    input: body.messages ?? body.prompt,
    tags,
    endUser: who.endUser,
    sessionId: who.sessionId
  })
  if (input._tag === "Blocked") return yield* refuse(observed, input.violation)
  if (input.body !== stripped) yield* countMasked(guardrails)
  yield* runJudges(router, input.judges, (b) => Effect.mapError(endpoint.prepareChat(b), refusedLocally), observed)
  // A spent hard budget refuses the request before it takes a rate-limit slot (or a cache hit); the
  // refusal ends the request's span and ledger row with the error, so refused requests are visible too.
  const endUserBudgets = yield* EndUserBudgets
  yield* (yield* Budgets).check(principal).pipe(
    Effect.andThen(who.endUser === null ? Effect.void : endUserBudgets.check(who.endUser)),
    Effect.mapError(fromGatewayError),
    withTracedSpan("gateway.budget", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    Effect.onError((cause) => observed.onExit(Exit.failCause(cause)))
  )
  const cache = yield* ResponseCache
  const plan = cache.plan(endpoint.kind, group, cacheRequesterOf(principal, tags), body, controls)
  const found = yield* cache.lookup(plan, Date.now())
  const wantsStream = stream || head.stream === true
  const base: RouteContext = { endpoint, principal, body, group, requestId, observed, tags, stream: wantsStream, cachePlan: plan, cacheLookup: found }
  const answer: RoutedAnswer = found.entry !== undefined
    ? yield* answerFromCache(base, found.entry, body)
    : yield* Effect.gen(function*() {
      const promptTokens = prepared === undefined ? estimatePromptTokens(body) : prepared.generates.reduce((n, g) => n + g.promptTokenIds.length, 0)
      const completionTokens = prepared === undefined ? maxCompletionTokens(body) : prepared.generates.reduce((n, g) => n + g.params.maxTokens * g.params.n, 0)
      const permit = yield* admit(base, promptTokens, completionTokens)
      return yield* answerRouted({ ...base, local: Effect.mapError(local, refusedLocally), permit, promptTokens, semanticRoute: semantic?.route, observer })
    })
  // post_call and during_call guardrails on the answer (whole or as it streams), masked values restored.
  const guard = outputGuard(guardrails, input.masker, wantsStream)
  const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true
  const guarded = yield* guardedAnswer(endpoint.kind, answer, guard, () => (answer._tag === "Stream" && includeUsage ? usageChunk(endpoint.kind, answer.usage()) : undefined))
  // The sampled evaluators score the answer as the client got it, after it is complete, off the path.
  const requester = cacheRequesterOf(principal, tags)
  return yield* evaluatedAnswer(guarded, (yield* Evaluations).sampled(group), {
    requestId, modelGroup: group, keyId: requester.keyId, teamId: requester.teamId, endUser: who.endUser, body, observed
  })
})

/** The last chunk of a stream that reports usage (OpenAI's shape: no choices). */
const usageChunk = (kind: GenerationKind, usage: Usage) =>
  JSON.stringify({ object: kind === "chat" ? "chat.completion.chunk" : "text_completion", choices: [], usage })

/** Counts a request whose personal data the guardrails masked. */
const countMasked = (guardrails: ReadonlyArray<GuardrailSpec>) =>
  Effect.forEach(guardrails.filter((g) => g.check.kind === "pii" && g.check.action === "mask"), (g) => countGuardrail(g.name, "masked"), { discard: true })

/** What answering a routed request needs once it is resolved and observed. */
interface RouteContext {
  readonly endpoint: RoutedEndpoint
  readonly principal: Principal
  readonly body: Readonly<Record<string, unknown>>
  readonly group: string
  readonly requestId: string
  readonly observed: ObservedRequest
  readonly tags: ReadonlyArray<string>
  readonly stream: boolean
  readonly cachePlan: CachePlan
  readonly cacheLookup: CacheLookup
}

/** Rate limits as a child span of the request's; a refusal (429) ends the request's span and ledger row. */
const admit = (ctx: RouteContext, promptTokens: number, maxCompletion: number) =>
  admitTokens(ctx.principal, ctx.group, { promptTokens, maxCompletionTokens: maxCompletion, messages: ctx.endpoint.messages(ctx.body) }).pipe(
    withTracedSpan("gateway.rate_limit", { attributes: { "inferline.model_group": ctx.group }, parent: ctx.observed.span }),
    Effect.onError((cause) => ctx.observed.onExit(Exit.failCause(cause)))
  )

/**
 * The answer from the response cache: no engine or upstream call. It is admitted under the key's rate
 * limits with the tokens it holds (unless the cache's rate_limit_hits is off), and its ledger row says
 * cache hit, at no cost; the metrics count the money it saved.
 */
const answerFromCache = Effect.fnUntraced(function*(ctx: RouteContext, entry: CachedResponse, body: Readonly<Record<string, unknown>>) {
  const cache = yield* ResponseCache
  const tokens = entry.usage.total_tokens
  const permit = cache.settings?.rateLimitHits === false ? undefined : yield* admit(ctx, entry.usage.prompt_tokens, entry.usage.completion_tokens)
  const r = entry.response as { id?: unknown; model?: unknown }
  yield* ctx.observed.update({
    deployment: entry.deployment,
    provider: entry.provider,
    inputTokens: entry.usage.prompt_tokens,
    cachedInputTokens: entry.usage.prompt_tokens_details.cached_tokens,
    outputTokens: entry.usage.completion_tokens,
    responseCacheHit: true,
    savedCost: entry.cost,
    ...(typeof r.id === "string" && { responseId: r.id }),
    ...(typeof r.model === "string" && { responseModel: r.model })
  })
  yield* ctx.observed.firstToken
  yield* cache.record("hit", entry.cost)
  if (permit !== undefined) yield* settleOnce(permit, () => tokens)
  yield* ctx.observed.end()
  const { match, similarity } = ctx.cacheLookup
  const headers = {
    ...permit?.headers,
    "x-inferline-cache": "hit",
    "x-inferline-cache-match": match ?? "exact",
    ...(match === "semantic" && similarity !== undefined && { "x-inferline-cache-similarity": similarity.toFixed(4) }),
    "x-inferline-deployment": entry.deployment,
    "x-inferline-attempts": "0"
  }
  if (!ctx.stream) return { _tag: "Complete" as const, result: { json: entry.response, text: undefined }, headers } satisfies RoutedAnswer
  const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true
  const chunks = replayChunks(entry.kind, entry.response as Record<string, unknown>, includeUsage)
  return { _tag: "Stream" as const, chunks: Stream.fromIterable(chunks), headers, usage: () => entry.usage } satisfies RoutedAnswer
})

/**
 * The routed answer: the router's stream or whole response. The permit is settled with the tokens really
 * used when the response ends, however it ends (stream end, failure, client gone); a cacheable answer
 * that completed is stored in the response cache.
 */
const answerRouted = Effect.fnUntraced(function*(ctx: RouteContext & {
  readonly local: Effect.Effect<LocalRequest, ProviderError, Engine>
  readonly permit: Permit
  readonly promptTokens: number
  readonly semanticRoute: string | null | undefined
  readonly observer: RequestObserverService
}) {
  const { observed, requestId } = ctx
  const router = yield* Router
  const cache = yield* ResponseCache
  const meter = new UsageMeter(ctx.promptTokens)
  const settle = settleOnce(ctx.permit, () => meter.total)
  const captured = observed.capturesOutput ? new CapturedOutput() : undefined
  const storing = ctx.cachePlan._tag === "Use" && ctx.cachePlan.write
  const cacheResult = ctx.cachePlan._tag === "Off" ? undefined : ctx.cachePlan._tag === "Use" ? "miss" as const : "bypass" as const
  if (cacheResult !== undefined) yield* cache.record(cacheResult, 0)
  const cacheHeaders: Record<string, string> = cacheResult === undefined ? {} : { "x-inferline-cache": cacheResult }
  // However the request ends: the permit settles and the observer ends the request's span, metrics and
  // ledger row with who served it and the usage; a complete answer goes into the cache.
  // Who served, for the ledger row: the answering deployment, else the last one that failed (none when
  // no deployment was tried, e.g. all in cooldown), never a deployment the group does not have.
  let failedOn: string | undefined
  const noteFailure = <A, R>(self: Effect.Effect<A, ProviderError, R>) => Effect.tapError(self, (e) => Effect.sync(() => void (failedOn = e.deployment)))
  const servedBy = (routed: Routed<unknown> | undefined) =>
    routed !== undefined
      ? { deployment: routed.deployment, provider: routed.provider }
      : failedOn === undefined ? undefined : { deployment: failedOn, provider: router.deployment(failedOn)?.config.provider }
  const done = (exit: Exit.Exit<unknown, unknown>, routed: Routed<unknown> | undefined, response?: unknown) =>
    Effect.andThen(settle, Effect.andThen(observed.update(usageDetails(meter, servedBy(routed), response, captured)), observed.onExit(exit))).pipe(
      Effect.andThen(storing && Exit.isSuccess(exit) && routed !== undefined && response !== undefined
        ? cache.store(ctx.cachePlan, cachedEntry(ctx, meter, routed, response), ctx.cacheLookup)
        : Effect.void)
    )
  const request = { kind: ctx.endpoint.kind, group: ctx.group, body: ctx.body, promptTokens: ctx.promptTokens, local: ctx.local, meter, tags: ctx.tags }
  // Errors become the API's before the observer sees them: its error.type is the API's code.
  const toApiError = (e: ProviderError) => fromProviderError(e, requestId)
  if (ctx.stream) {
    const routed = yield* router.stream(request).pipe(
      noteFailure,
      Effect.mapError(toApiError),
      withTracedParent(observed.span),
      Effect.onError((cause) => done(Exit.failCause(cause), undefined))
    )
    yield* observed.firstToken
    // Backstop for a body that never runs (the client left between routing and the first write);
    // `done` is idempotent, so the stream's own end wins when it runs.
    yield* addFinalizerExit((exit) => done(exit, routed))
    const assembler = storing ? new StreamAssembler(ctx.endpoint.kind) : undefined
    const watched = captured === undefined && assembler === undefined
      ? routed.value
      : routed.value.pipe(Stream.tap((chunk) => Effect.sync(() => (captured?.addChunk(chunk), assembler?.add(chunk)))))
    return {
      _tag: "Stream" as const,
      chunks: watched.pipe(
        Stream.mapError(toApiError),
        onStreamExit((exit) => done(exit, routed, assembler?.response(meter.usage)))
      ),
      headers: { ...ctx.permit.headers, ...routedHeaders(routed, ctx.semanticRoute), ...cacheHeaders },
      usage: () => meter.usage
    } satisfies RoutedAnswer
  }
  let routed: Routed<CompleteResult> | undefined
  yield* router.complete(request).pipe(
    noteFailure,
    Effect.mapError(toApiError),
    withTracedParent(observed.span),
    // A whole response's first token is when it arrived (the served model's meter knows better).
    Effect.tap((r) => Effect.andThen(Effect.sync(() => (routed = r)), observed.firstToken)),
    Effect.onExit((exit) => done(exit, routed, routed?.value.json))
  )
  return { _tag: "Complete" as const, result: routed!.value, headers: { ...ctx.permit.headers, ...routedHeaders(routed!, ctx.semanticRoute), ...cacheHeaders } } satisfies RoutedAnswer
})

/** The cache entry of a routed answer: the response, its usage and what it cost, who made it. */
const cachedEntry = (
  ctx: { readonly endpoint: RoutedEndpoint; readonly group: string; readonly observer: RequestObserverService },
  meter: UsageMeter,
  routed: Routed<unknown>,
  response: unknown
): CachedResponse => {
  const provider = routed.provider
  return {
    kind: ctx.endpoint.kind,
    response,
    usage: meter.usage,
    cost: ctx.observer.costOf(routed.deployment, ctx.group, { inputTokens: meter.promptTokens, cachedInputTokens: meter.cachedTokens, outputTokens: meter.completionTokens }),
    deployment: routed.deployment,
    provider,
    storedAt: Date.now()
  }
}

/** Who may share a cache entry with this caller (the cache's `scope` picks which part counts). */
/** Who asks, as the response cache scopes entries and turns its semantic half on. */
const cacheRequesterOf = (principal: Principal, tags: ReadonlyArray<string>): CacheRequester =>
  principal._tag === "Key"
    ? { keyId: principal.key.id, teamId: principal.team?.id ?? principal.key.team_id ?? null, tags, keyMetadata: principal.key.metadata, teamMetadata: principal.team?.metadata }
    : { keyId: null, teamId: null, tags, keyMetadata: undefined, teamMetadata: undefined }

/**
 * The served model's validation error, when a fallback reaches it after the request was routed
 * elsewhere first: the router answers with it as the request's own fault.
 */
export const refusedLocally = (e: ApiError): ProviderError =>
  new ProviderError({
    kind: e.code === "context_length_exceeded" ? "context_window" : "bad_request",
    message: e.message,
    param: e.param,
    code: e.code,
    deployment: "local"
  })

/** What the observer records at the end: who served (provider, deployment), usage, response id and model. */
const usageDetails = (
  meter: UsageMeter,
  servedBy: { readonly deployment: string; readonly provider: string | undefined } | undefined,
  response: unknown,
  captured: CapturedOutput | undefined
): Parameters<ObservedRequest["update"]>[0] => {
  if (captured !== undefined && response !== undefined) captured.addResponse(response)
  const r = (response ?? {}) as { id?: unknown; model?: unknown; choices?: ReadonlyArray<{ finish_reason?: unknown }> }
  // A whole response names its finish reasons; streams report them to the meter as they pass.
  const finishReasons = Array.isArray(r.choices)
    ? r.choices.flatMap((c) => (typeof c.finish_reason === "string" ? [c.finish_reason] : []))
    : meter.finishReasons
  return {
    ...(finishReasons.length > 0 && { finishReasons }),
    ...servedBy,
    inputTokens: meter.promptTokens,
    cachedInputTokens: meter.cachedTokens,
    firstTokenAt: meter.firstTokenAt,
    outputTokens: meter.completionTokens,
    ...(typeof r.id === "string" && { responseId: r.id }),
    ...(typeof r.model === "string" ? { responseModel: r.model } : meter.responseModel !== undefined && { responseModel: meter.responseModel }),
    ...(captured !== undefined && { output: captured.messages })
  }
}

/** Only the streaming form (the WebSocket endpoint): the chunks as JSON text. */
export const routeStream = (endpoint: RoutedEndpoint, principal: Principal, json: unknown): Effect.Effect<{ readonly chunks: Stream.Stream<string, ApiError> }, ApiError, Engine | Gateway | Router | Scope.Scope> =>
  Effect.flatMap(routeBody(endpoint, principal, json, true), (r) => (r._tag === "Stream" ? Effect.succeed(r) : Effect.die("a streaming route returned a whole response")))

/**
 * One /v1 model request (POST /v1/chat/completions, /v1/completions): authenticate, read the body,
 * route it, answer with JSON or SSE. The served deployment and the attempts go out as x-inferline-*
 * headers; `Routed` (deployment, provider, group, attempts) is what the handler has at the end.
 */
export const handleRoutedRequest = (endpoint: RoutedEndpoint) =>
  Effect.gen(function*() {
    const principal = yield* currentPrincipal.pipe(withTracedSpan("gateway.authenticate"))
    const result = yield* routeBody(endpoint, principal, yield* readJson, false)
    if (result._tag === "Stream") return sseDataResponse(result.chunks, result.headers)
    const response = result.result.text !== undefined
      ? HttpServerResponse.text(result.result.text, { contentType: "application/json" })
      : HttpServerResponse.jsonUnsafe(result.result.json)
    return withRateLimitHeaders(result.headers)(response)
  })
