import { Effect, Exit, Option, Schema, Stream, type Scope } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { Engine } from "../actors/engine.ts"
import { addFinalizerExit } from "../effect/scope-finalizer.ts"
import type { Gateway } from "../gateway/gateway.ts"
import type { Principal } from "../gateway/principal.ts"
import { Budgets } from "../budgets/budgets.ts"
import { admitTokens, currentPrincipal, settleOnce } from "./admission.ts"
import { decodeJson, readJson } from "./body.ts"
import { withRateLimitHeaders } from "./gateway/authenticate-request.ts"
import { RequestId } from "./gateway/request-id.ts"
import { RequestObserver, type ObservedRequest } from "../observability/request-observer.ts"
import { withTracedParent, withTracedSpan } from "../observability/traced-span.ts"
import { estimatePromptTokens, maxCompletionTokens } from "../router/estimate-tokens.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import { Router, type Routed } from "../router/router.ts"
import { CapturedOutput } from "./captured-output.ts"
import { sseDataResponse } from "./sse.ts"
import { onStreamExit } from "../effect/stream-pull.ts"
import { ApiError, invalidRequest, modelNotFound } from "../api/api-error.ts"
import { fromGatewayError, fromProviderError } from "./error-mapping.ts"
import { ProviderError, type CompleteResult, type EndpointKind } from "../router/providers/provider.ts"
import { UsageMeter } from "../api/usage-meter.ts"
import { requestTags, withoutTags } from "./request-tags.ts"

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
  readonly kind: EndpointKind
  /** Validates the raw body for the served model and prepares its engine request (chat.ts, completions.ts). */
  readonly prepareLocal: (json: unknown) => Effect.Effect<LocalRequest, ApiError, Engine>
  /** Chat messages, for the gateway's max_messages guard. */
  readonly messages: (json: Readonly<Record<string, unknown>>) => number | undefined
  /**
   * What a request for upstreams only must get right before it is sent anywhere (`messages` or
   * `prompt` present and shaped as every provider needs them); the upstream validates the rest. A group
   * with the served model validates fully instead (`prepareLocal`).
   */
  readonly shapeError: (json: Readonly<Record<string, unknown>>) => ApiError | undefined
}

const NO_HEADERS: Readonly<Record<string, string | undefined>> = {}

/** Response headers naming who served the request. */
export const routedHeaders = (routed: Routed<unknown>, semanticRoute: string | null | undefined): Record<string, string> => ({
  "x-inferline-deployment": routed.deployment,
  "x-inferline-attempts": String(routed.attempts),
  ...(semanticRoute != null && { "x-inferline-route": semanticRoute })
})

/**
 * A request body through the gateway and the router, up to the routed result: find the group (or let
 * the semantic router pick it), check the budget, admit (exact tokens when the group has the served
 * model, an estimate otherwise), start observing (span, metrics, ledger row), route. The permit is
 * settled with the tokens really used when the response ends, however it ends (stream end, failure,
 * client gone). `headers` are the x-ratelimit-* and x-inferline-* ones.
 */
export const routeBody = Effect.fnUntraced(function*(endpoint: RoutedEndpoint, principal: Principal, json: unknown, stream: boolean) {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return yield* invalidRequest("The request body must be a JSON object.")
  const raw = json as Readonly<Record<string, unknown>>
  // The schema only when the cheap check fails: it is what words the 400.
  const head = isRequestHead(raw) ? raw : yield* decodeJson(RequestHead, raw)
  const httpRequest = yield* Effect.serviceOption(HttpServerRequest.HttpServerRequest)
  const tags = requestTags(raw, Option.isSome(httpRequest) ? httpRequest.value.headers : NO_HEADERS, principal)
  if (tags instanceof ApiError) return yield* tags
  const body = withoutTags(raw)
  const router = yield* Router
  const requestId = yield* RequestId
  const semantic = router.semantic !== undefined && head.model === router.semantic.model
    ? yield* Effect.mapError(router.semantic.resolve(body), (e) => fromProviderError(e, requestId))
    : undefined
  const group = router.groupFor(semantic?.group ?? head.model ?? router.servedModel)
  const providers = router.providersOf(group)
  if (providers === undefined) return yield* modelNotFound(group)

  // The served model validates and tokenizes once, up front when it may serve the request (its errors
  // are the API's 400s, and its token counts are exact), else only if a fallback reaches it.
  const local = yield* Effect.cached(Effect.suspend(() => endpoint.prepareLocal(body)))
  const prepared = providers.has("local") ? yield* local : undefined
  if (prepared === undefined) {
    const shapeError = endpoint.shapeError(body)
    if (shapeError !== undefined) return yield* shapeError
  }
  const promptTokens = prepared === undefined ? estimatePromptTokens(body) : prepared.generates.reduce((n, g) => n + g.promptTokenIds.length, 0)
  const completionTokens = prepared === undefined ? maxCompletionTokens(body) : prepared.generates.reduce((n, g) => n + g.params.maxTokens * g.params.n, 0)
  const observed = yield* (yield* RequestObserver).start({
    requestId,
    operation: endpoint.kind === "chat" ? "chat" : "text_completion",
    modelGroup: group,
    params: body,
    principal,
    input: body.messages ?? body.prompt,
    tags
  })
  // Budget and rate limits as a child span of the request's; a refusal (429, budget) ends the request's
  // span and ledger row with the error, so refused requests are visible too.
  const budgets = yield* Budgets
  // A spent hard budget refuses the request before it takes a rate-limit slot.
  const permit = yield* Effect.mapError(budgets.check(principal), fromGatewayError).pipe(
    Effect.andThen(() => admitTokens(principal, group, { promptTokens, maxCompletionTokens: completionTokens, messages: endpoint.messages(body) })),
    withTracedSpan("gateway.rate_limit", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    Effect.onError((cause) => observed.onExit(Exit.failCause(cause)))
  )

  const meter = new UsageMeter(promptTokens)
  // However the request ends: the permit settles with the tokens really used, and the observer ends
  // the request's span, metrics and ledger row with who served it and the usage.
  const settle = settleOnce(permit, () => meter.total)
  const captured = observed.capturesOutput ? new CapturedOutput() : undefined
  const done = (exit: Exit.Exit<unknown, unknown>, routed: Routed<unknown> | undefined, response?: unknown) =>
    Effect.andThen(settle, Effect.andThen(observed.update(usageDetails(meter, routed, response, captured)), observed.onExit(exit)))
  const request = { kind: endpoint.kind, group, body, promptTokens, local: Effect.mapError(local, refusedLocally), meter, tags }
  // Errors become the API's before the observer sees them: its error.type is the API's code.
  const toApiError = (e: ProviderError) => fromProviderError(e, requestId)
  if (stream || head.stream === true) {
    const routed = yield* router.stream(request).pipe(
      Effect.mapError(toApiError),
      withTracedParent(observed.span),
      Effect.onError((cause) => done(Exit.failCause(cause), undefined))
    )
    yield* observed.firstToken
    // Backstop for a body that never runs (the client left between routing and the first write);
    // `done` is idempotent, so the stream's own end wins when it runs.
    yield* addFinalizerExit((exit) => done(exit, routed))
    return {
      _tag: "Stream" as const,
      chunks: (captured === undefined ? routed.value : routed.value.pipe(Stream.tap((chunk) => Effect.sync(() => captured.addChunk(chunk))))).pipe(
        Stream.mapError(toApiError),
        onStreamExit((exit) => done(exit, routed))
      ),
      routed,
      headers: { ...permit.headers, ...routedHeaders(routed, semantic?.route) }
    }
  }
  let routed: Routed<CompleteResult> | undefined
  yield* router.complete(request).pipe(
    Effect.mapError(toApiError),
    withTracedParent(observed.span),
    Effect.tap((r) => Effect.sync(() => (routed = r))),
    Effect.onExit((exit) => done(exit, routed, routed?.value.json))
  )
  return { _tag: "Complete" as const, result: routed!.value, routed: routed!, headers: { ...permit.headers, ...routedHeaders(routed!, semantic?.route) } }
})

/**
 * The served model's validation error, when a fallback reaches it after the request was routed
 * elsewhere first: the router answers with it as the request's own fault.
 */
const refusedLocally = (e: ApiError): ProviderError =>
  new ProviderError({
    kind: e.code === "context_length_exceeded" ? "context_window" : "bad_request",
    message: e.message,
    param: e.param,
    code: e.code,
    deployment: "local"
  })

/** What the observer records at the end: who served (provider, deployment), usage, response id and model. */
const usageDetails = (meter: UsageMeter, routed: Routed<unknown> | undefined, response: unknown, captured: CapturedOutput | undefined): Parameters<ObservedRequest["update"]>[0] => {
  if (captured !== undefined && response !== undefined) captured.addResponse(response)
  const r = (response ?? {}) as { id?: unknown; model?: unknown; choices?: ReadonlyArray<{ finish_reason?: unknown }> }
  // A whole response names its finish reasons; streams report them to the meter as they pass.
  const finishReasons = Array.isArray(r.choices)
    ? r.choices.flatMap((c) => (typeof c.finish_reason === "string" ? [c.finish_reason] : []))
    : meter.finishReasons
  return {
    ...(finishReasons.length > 0 && { finishReasons }),
    ...(routed !== undefined && { deployment: routed.deployment, provider: routed.provider === "local" ? undefined : routed.provider }),
    inputTokens: meter.promptTokens,
    cachedInputTokens: meter.cachedTokens,
    firstTokenAt: meter.firstTokenAt,
    outputTokens: meter.completionTokens,
    ...(typeof r.id === "string" && { responseId: r.id }),
    ...(typeof r.model === "string" && { responseModel: r.model }),
    ...(captured !== undefined && { output: captured.messages })
  }
}

/** Only the streaming form (the WebSocket endpoint): the chunks as JSON text, and who serves them. */
export const routeStream = (endpoint: RoutedEndpoint, principal: Principal, json: unknown): Effect.Effect<{ readonly chunks: Stream.Stream<string, ApiError>; readonly routed: Routed<unknown> }, ApiError, Engine | Gateway | Router | Scope.Scope> =>
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
