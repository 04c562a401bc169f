import { Effect, Exit } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { requestAttribution } from "./request-attribution.ts"
import { invalidRequest, modelNotFound, modelRequired } from "../api/api-error.ts"
import { UsageMeter } from "../api/usage-meter.ts"
import { Budgets } from "../budgets/budgets.ts"
import { EndUserBudgets } from "../budgets/end-user-budgets.ts"
import { RequestObserver } from "../observability/request-observer.ts"
import { withTracedParent, withTracedSpan } from "../observability/traced-span.ts"
import { estimatePromptTokens } from "../router/estimate-tokens.ts"
import { Router, type Routed } from "../router/router.ts"
import type { CompleteResult } from "../router/providers/provider.ts"
import { admitTokens, currentPrincipal, settleOnce } from "./admission.ts"
import { decodeJson, readJson } from "./body.ts"
import { embeddingInputError, prepareLocalEmbedding } from "./embedding-local.ts"
import { embeddingResponse } from "./embedding-response.ts"
import { fromGatewayError, fromProviderError } from "./error-mapping.ts"
import { orErrorResponse } from "./errors.ts"
import { withRateLimitHeaders } from "./gateway/authenticate-request.ts"
import { RequestId } from "./gateway/request-id.ts"
import { withoutGatewayFields } from "./request-tags.ts"
import { refusedLocally, routedHeaders } from "./routed-request.ts"
import { EmbeddingRequest } from "./schemas.ts"

/**
 * POST /v1/embeddings through the gateway (key, budgets, rate limits: the input tokens), the router
 * (the group's embedding deployments and the served model, with retries and fallbacks), the ledger and
 * the request's GenAI span (operation "embeddings"), like chat. Upstreams are asked for floats; the
 * response is encoded here as the client asked (embedding-response.ts). Embeddings skip the response
 * cache and the guardrails, which read generated text.
 */

const handleEmbeddings = Effect.gen(function*() {
  const principal = yield* currentPrincipal.pipe(withTracedSpan("gateway.authenticate"))
  const json = yield* readJson
  if (typeof json !== "object" || json === null || Array.isArray(json)) return yield* invalidRequest("The request body must be a JSON object.")
  const raw = json as Readonly<Record<string, unknown>>
  // The shape every path needs (the served model checks the rest, an upstream decides for itself).
  const request = yield* decodeJson(EmbeddingRequest, raw)
  const inputError = embeddingInputError(request.input)
  if (inputError !== undefined) return yield* inputError
  const { tags, who } = yield* requestAttribution(raw, principal)
  const body = withoutGatewayFields(raw)
  const router = yield* Router
  const asked = request.model ?? router.servedModel
  // A gateway without a model has no default group: the request must name one.
  if (asked === null) return yield* modelRequired()
  const group = router.groupFor(asked)
  const providers = router.providersOf(group)
  if (providers === undefined) return yield* modelNotFound(group)
  const local = yield* Effect.cached(Effect.suspend(() => prepareLocalEmbedding(body)))
  const prepared = providers.has("local") ? yield* local : undefined
  const requestId = yield* RequestId
  const observed = yield* (yield* RequestObserver).start({
    requestId, operation: "embeddings", modelGroup: group, params: body, principal, input: body.input, tags, endUser: who.endUser, sessionId: who.sessionId
  })
  // A refusal (budget, rate limit) ends the request's span and ledger row with the error.
  const endOnError = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.onError(effect, (cause) => observed.onExit(Exit.failCause(cause)))
  const endUserBudgets = yield* EndUserBudgets
  yield* (yield* Budgets).check(principal).pipe(
    Effect.andThen(who.endUser === null ? Effect.void : endUserBudgets.check(who.endUser)),
    Effect.mapError(fromGatewayError),
    withTracedSpan("gateway.budget", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    endOnError
  )
  const promptTokens = prepared === undefined ? estimatePromptTokens(body) : prepared.generates.reduce((n, g) => n + g.promptTokenIds.length, 0)
  const permit = yield* admitTokens(principal, group, { promptTokens, maxCompletionTokens: 0 }).pipe(
    withTracedSpan("gateway.rate_limit", { attributes: { "inferline.model_group": group }, parent: observed.span }),
    endOnError
  )
  const meter = new UsageMeter(promptTokens)
  const encoding = request.encoding_format ?? "float"
  // Upstreams are asked for floats whatever the client wants: the response is encoded here.
  const { encoding_format: _, ...upstreamBody } = body
  let routed: Routed<CompleteResult> | undefined
  const done = <A, E>(exit: Exit.Exit<A, E>) =>
    Effect.andThen(
      settleOnce(permit, () => meter.total),
      Effect.andThen(observed.update({
        ...(routed !== undefined && { deployment: routed.deployment, provider: routed.provider === "local" ? undefined : routed.provider }),
        inputTokens: meter.promptTokens,
        outputTokens: 0,
        responseModel: (routed?.value.json as { model?: string } | undefined)?.model
      }), observed.onExit(exit))
    )
  const answer = yield* router.complete({ kind: "embeddings", group, body: upstreamBody, promptTokens, local: Effect.mapError(local, refusedLocally), meter, tags }).pipe(
    Effect.flatMap((r) => {
      routed = r
      // An upstream that reported no usage: the estimate stands (rate limits, ledger, response).
      if (!meter.reported) meter.setPrompt(promptTokens)
      const shaped = embeddingResponse(r.value.json, encoding, meter, r.deployment)
      return "body" in shaped ? Effect.succeed(shaped.body) : Effect.fail(shaped)
    }),
    Effect.mapError((e) => fromProviderError(e, requestId)),
    withTracedParent(observed.span),
    Effect.onExit(done)
  )
  return withRateLimitHeaders({ ...permit.headers, ...routedHeaders(routed!, undefined) })(HttpServerResponse.jsonUnsafe(answer))
})

export const embeddingsRoute = HttpRouter.add("POST", "/v1/embeddings", orErrorResponse(handleEmbeddings))
