import { Cause, Effect, Exit, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { requestAttribution } from "../request-attribution.ts"
import { ApiError, invalidRequest } from "../../api/api-error.ts"
import { UsageMeter } from "../../api/usage-meter.ts"
import { Budgets } from "../../budgets/budgets.ts"
import { EndUserBudgets } from "../../budgets/end-user-budgets.ts"
import { addFinalizerExit } from "../../effect/scope-finalizer.ts"
import { onStreamExit } from "../../effect/stream-pull.ts"
import type { Principal } from "../../gateway/principal.ts"
import { RequestObserver, type ObservedRequest } from "../../observability/request-observer.ts"
import { withTracedParent, withTracedSpan } from "../../observability/traced-span.ts"
import { estimatePromptTokens } from "../../router/estimate-tokens.ts"
import type { ProviderError } from "../../router/providers/provider.ts"
import { Router, type RouteRequest, type Routed } from "../../router/router.ts"
import { admitTokens, settleOnce } from "../admission.ts"
import { apiErrorFromCause } from "../errors.ts"
import { fromGatewayError, fromProviderError } from "../error-mapping.ts"
import { withRateLimitHeaders } from "../gateway/authenticate-request.ts"
import { RequestId } from "../gateway/request-id.ts"
import { withoutGatewayFields } from "../request-tags.ts"
import { routedHeaders } from "../routed-request.ts"
import { anthropicErrorBody } from "./anthropic-errors.ts"

/**
 * /v1/messages for a group of Anthropic deployments only: the request passes through as the client sent
 * it (no translation to chat and back, so Anthropic-only features such as thinking, documents or server
 * tools reach Anthropic), through the gateway (key, budgets, rate limits on an estimate of the prompt),
 * the router (kind "messages": the group's deployments with retries; fallbacks reach Anthropic
 * deployments only), the ledger row and the span. The answer is Anthropic's, byte for byte for a whole
 * message and event by event for a stream. The response cache and guardrails, which read OpenAI chat
 * answers, do not apply here.
 */
type Json = Record<string, any>


/** What Anthropic itself would refuse before anything is sent: no model, no max_tokens, no messages. */
export const nativeShapeError = (body: Json): ApiError | undefined => {
  if (typeof body.max_tokens !== "number" || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) return invalidRequest("max_tokens: Field required (an integer >= 1).", "max_tokens")
  if (!Array.isArray(body.messages) || body.messages.length === 0) return invalidRequest("messages: Field required (a non-empty list).", "messages")
  return undefined
}

const eventOf = (data: string) => {
  const type = (JSON.parse(data) as { type?: unknown }).type
  return `event: ${typeof type === "string" ? type : "message"}\ndata: ${data}\n\n`
}

/** The upstream's events as they came; a failure after the start is an Anthropic `error` event. */
const nativeSse = (chunks: Stream.Stream<string, ApiError>, headers: Readonly<Record<string, string>>) =>
  HttpServerResponse.stream(
    chunks.pipe(
      Stream.map(eventOf),
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(`event: error\ndata: ${JSON.stringify(anthropicErrorBody(e))}\n\n`))))
      ),
      Stream.encodeText
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers } }
  )

/** Settles the permit and ends the request's observation, however the request ended (idempotent). */
const finisher = (observed: ObservedRequest, settle: Effect.Effect<void>, meter: UsageMeter) => <A, E>(exit: Exit.Exit<A, E>, routed: Routed<unknown> | undefined) =>
  Effect.andThen(
    settle,
    Effect.andThen(observed.update({
      ...(routed !== undefined && { deployment: routed.deployment, provider: routed.provider }),
      ...(meter.finishReasons.length > 0 && { finishReasons: meter.finishReasons }),
      inputTokens: meter.promptTokens,
      cachedInputTokens: meter.cachedTokens,
      outputTokens: meter.completionTokens
    }), observed.onExit(exit))
  )

export const nativeMessages = Effect.fnUntraced(function*(principal: Principal, raw: Json, group: string) {
  const shapeError = nativeShapeError(raw)
  if (shapeError !== undefined) return yield* shapeError
  const { tags, who } = yield* requestAttribution(raw, principal)
  const body = withoutGatewayFields(raw)
  const requestId = yield* RequestId
  const observed = yield* (yield* RequestObserver).start({ requestId, operation: "chat", modelGroup: group, params: body, principal, input: body.messages, tags, endUser: who.endUser, sessionId: who.sessionId })
  const endOnError = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.onError(effect, (cause) => observed.onExit(Exit.failCause(cause)))
  const endUserBudgets = yield* EndUserBudgets
  yield* (yield* Budgets).check(principal).pipe(
    Effect.andThen(who.endUser === null ? Effect.void : endUserBudgets.check(who.endUser)),
    Effect.mapError(fromGatewayError),
    withTracedSpan("gateway.budget", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    endOnError
  )
  const promptTokens = estimatePromptTokens(body)
  const permit = yield* admitTokens(principal, group, { promptTokens, maxCompletionTokens: body.max_tokens as number, messages: (body.messages as Array<unknown>).length }).pipe(
    withTracedSpan("gateway.rate_limit", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    endOnError
  )
  const meter = new UsageMeter(promptTokens)
  const done = finisher(observed, settleOnce(permit, () => meter.total), meter)
  const request: RouteRequest = { kind: "messages", group, body, promptTokens, local: Effect.die("Anthropic messages are not served by the engine natively"), meter, tags }
  const toApiError = (e: ProviderError) => fromProviderError(e, requestId)
  const router = yield* Router
  if (body.stream !== true) {
    let routed: Routed<{ readonly json: unknown; readonly text: string | undefined }> | undefined
    yield* router.complete(request).pipe(
      Effect.mapError(toApiError),
      withTracedParent(observed.span),
      Effect.tap((r) => Effect.sync(() => (routed = r))),
      Effect.onExit((exit) => done(exit, routed))
    )
    const response = HttpServerResponse.text(routed!.value.text ?? JSON.stringify(routed!.value.json), { contentType: "application/json" })
    return withRateLimitHeaders({ ...permit.headers, ...routedHeaders(routed!, undefined) })(response)
  }
  const routed = yield* router.stream(request).pipe(
    Effect.mapError(toApiError),
    withTracedParent(observed.span),
    Effect.onError((cause) => done(Exit.failCause(cause), undefined))
  )
  yield* observed.firstToken
  // The client may leave before the body runs; the stream's own end wins when it does run.
  yield* addFinalizerExit((exit) => done(exit, routed))
  const chunks = routed.value.pipe(Stream.mapError(toApiError), onStreamExit((exit) => done(exit, routed)))
  return nativeSse(chunks, { ...permit.headers, ...routedHeaders(routed, undefined) })
})

/** count_tokens for a group of Anthropic deployments: Anthropic's count, through the router (no ledger row: nothing is generated). */
export const nativeCountTokens = Effect.fnUntraced(function*(raw: Json, group: string) {
  const requestId = yield* RequestId
  const body = withoutGatewayFields(raw)
  const routed = yield* (yield* Router).countTokens({ kind: "messages", group, body, promptTokens: 0, local: Effect.die("Anthropic counts are not the engine's"), meter: new UsageMeter(0) }).pipe(
    Effect.mapError((e) => fromProviderError(e, requestId))
  )
  return HttpServerResponse.text(routed.value.text ?? JSON.stringify(routed.value.json), { contentType: "application/json" })
})
