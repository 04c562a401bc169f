import { Cause, Clock, Context, Effect, Exit, Layer, Option, Tracer } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { Budgets, type BudgetsService } from "../budgets/budgets.ts"
import { EndUserBudgets, type EndUserBudgetsService } from "../budgets/end-user-budgets.ts"
import type { Principal } from "../gateway/principal.ts"
import { ClientRequestId } from "../gateway/request-id.ts"
import { Ledger } from "../ledger/ledger.ts"
import { costOf, emptyPriceTable, priceFor, type PriceTable } from "../ledger/price-table.ts"
import type { SpendStatus } from "../ledger/spend-row.ts"
import { genAiSpanName, requestAttributes, responseAttributes, type GenAiOperation, type GenAiRequestParams } from "./genai-attributes.ts"
import { recordGenAiMetrics } from "./genai-metrics.ts"
import { spansRecorded } from "./traced-span.ts"

/** What the request path knows when a model request starts. */
export interface RequestStart {
  readonly requestId: string
  readonly operation: GenAiOperation
  /** The model name the client asked for (the router's model group). */
  readonly modelGroup: string
  /** The request body's parameters (an OpenAI chat or completions body fits as it is). */
  readonly params: GenAiRequestParams
  readonly principal: Principal
  readonly tags?: ReadonlyArray<string> | undefined
  /** The W3C `traceparent` header, used when no span is current (the HTTP server's span continues it). */
  readonly traceparent?: string | undefined
  /** Messages or prompt: on the span only with INFERLINE_OTEL_CAPTURE_CONTENT=true. */
  readonly input?: unknown
  /** Who the request is for (OpenAI's `user`, x-inferline-user) and the session (x-inferline-session). */
  readonly endUser?: string | null | undefined
  readonly sessionId?: string | null | undefined
}

/** What becomes known as the request runs; any of it may be given to `update` or `end`. */
export interface RequestDetails {
  readonly deployment?: string | undefined
  readonly provider?: string | undefined
  readonly responseId?: string | undefined
  readonly responseModel?: string | undefined
  readonly finishReasons?: ReadonlyArray<string> | undefined
  /** Prompt tokens, cached ones included. */
  readonly inputTokens?: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  /** Epoch ms of the first generated token (or call `firstToken`). */
  readonly firstTokenAt?: number | undefined
  readonly status?: SpendStatus | undefined
  /** Answered from the response cache: the ledger row says so, at no cost. */
  readonly responseCacheHit?: boolean | undefined
  /** With a cache hit: what the answer cost when it was made (the ledger's saved_cost). */
  readonly savedCost?: number | undefined
  /** error.type: an error code or class; set with status "error". */
  readonly errorType?: string | undefined
  /** The generated text: on the span only with content capture on. */
  readonly output?: unknown
}

/** One model request being observed: a span that is open until `end`, and the details gathered so far. */
export interface ObservedRequest {
  readonly requestId: string
  /** The request's span, e.g. for `Effect.withParentSpan(handle.span)` around work done elsewhere. */
  readonly span: Tracer.Span
  /** Whether the output text is wanted (content capture on, and a tracer that records the span): give it as `output`. */
  readonly capturesOutput: boolean
  readonly update: (details: RequestDetails) => Effect.Effect<void>
  /** Marks the first token now (the first call wins). */
  readonly firstToken: Effect.Effect<void>
  /**
   * Ends the span, records the metrics, journals the ledger row and charges the budgets. Idempotent: the
   * first call wins. Returns once the ledger row is durable.
   */
  readonly end: (details?: RequestDetails) => Effect.Effect<void>
  /** `end` with the status read from how the work exited: success ok, interruption aborted, else error. */
  readonly onExit: <A, E>(exit: Exit.Exit<A, E>) => Effect.Effect<void>
}

export interface RequestObserverService {
  readonly start: (request: RequestStart) => Effect.Effect<ObservedRequest>
  /** What a request's usage costs at a deployment, by the price table the ledger uses (USD). */
  readonly costOf: (deployment: string, modelGroup: string, usage: { readonly inputTokens: number; readonly cachedInputTokens: number; readonly outputTokens: number }) => number
}

/**
 * Observes model requests: span, GenAI metrics, ledger row, budget charge. A reference, so the request
 * path can use it without every server (tests) providing one: the default traces and measures but
 * keeps no ledger and charges no budget; `requestObserverLayer` installs the real one.
 */
export const RequestObserver = Context.Reference<RequestObserverService>("inferline/RequestObserver", {
  defaultValue: () => observerWith(noLedger, noBudgets, noBudgets, {})
})

export interface RequestObserverOptions {
  readonly priceTable?: PriceTable
  /** Prompt and completion content on spans (INFERLINE_OTEL_CAPTURE_CONTENT=true). Off by default. */
  readonly captureContent?: boolean
  /** gen_ai.provider.name and deployment when the request path does not say (the in-process engine). */
  readonly defaultProvider?: string
  readonly defaultDeployment?: string
}

/** error.type for a failure: the OpenAI error code or the tagged error's tag, else the class name. */
const errorTypeOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (Option.isNone(error)) return "_OTHER"
  const e = error.value as { code?: unknown; _tag?: unknown; constructor?: { name?: string } }
  if (typeof e.code === "string" && e.code !== "") return e.code
  if (typeof e._tag === "string") return e._tag
  return e.constructor?.name ?? "_OTHER"
}

const parentFromTraceparent = (traceparent: string | undefined): Tracer.AnySpan | undefined =>
  traceparent === undefined ? undefined : Option.getOrUndefined(HttpTraceContext.w3c(Headers.fromInput({ traceparent })))

/** The end user and session on the span, under OpenTelemetry's names and Langfuse's (it reads its own). */
const endUserAttributes = (r: RequestStart): Record<string, string> => {
  const out: Record<string, string> = {}
  if (r.endUser != null) out["user.id"] = out["langfuse.user.id"] = r.endUser
  if (r.sessionId != null) out["session.id"] = out["langfuse.session.id"] = r.sessionId
  return out
}

const noLedger: Ledger["Service"] = { record: () => Effect.void, flush: Effect.void }
const noBudgets = { charge: () => Effect.void }

/** One observed request's state: what `end` needs, gathered as the request runs. */
interface Observation {
  readonly request: RequestStart
  /** The client's x-request-id (ClientRequestId when the request started). */
  readonly clientRequestId: string | undefined
  readonly startedMs: number
  readonly span: Tracer.Span
  readonly traced: boolean
  details: RequestDetails
  ended: boolean
  firstTokenAt: number | undefined
}

/** Distinct `error.type` values the metrics keep apart; later new ones are counted as `_OTHER`. */
export const METRIC_ERROR_TYPES_MAX = 64

const observerWith = (
  ledger: Ledger["Service"],
  budgets: Pick<BudgetsService, "charge">,
  endUserBudgets: Pick<EndUserBudgetsService, "charge">,
  options: RequestObserverOptions
): RequestObserverService => {
  // error.type is a metric attribute, and an upstream's error code passes into it: one that made up a
  // new code per request would make a new series per request, kept for the life of the process. Spans
  // and the ledger keep the exact code.
  const metricErrorTypes = new Set<string>()
  const metricErrorType = (t: string): string => {
    if (metricErrorTypes.has(t)) return t
    if (metricErrorTypes.size >= METRIC_ERROR_TYPES_MAX) return "_OTHER"
    metricErrorTypes.add(t)
    return t
  }
  const prices = options.priceTable ?? emptyPriceTable
  const capture = options.captureContent ?? false
  // A request refused or failed before any deployment was tried names none.
  const defaultProvider = options.defaultProvider ?? ""
  const defaultDeployment = options.defaultDeployment ?? ""

  // The generators are made once, here, and every request runs them with its own Observation: a
  // generator function created per request would get its own object map from V8, which keeps all the
  // function captured alive through young-generation GCs (see bench/scavenge-survivors.ts).
  const start = Effect.fnUntraced(function*(request: RequestStart) {
    const startedMs = yield* Clock.currentTimeMillis
    // serviceOption, not Effect.option(currentParentSpan): the latter builds an error (with a stack
    // trace) whenever there is no parent span, on every request.
    const current = yield* Effect.serviceOption(Tracer.ParentSpan)
    const parent = Option.getOrUndefined(current) ?? parentFromTraceparent(request.traceparent)
    // With Effect's native tracer (no exporter) nobody reads the span's attributes: skip building them.
    const traced = yield* spansRecorded
    const clientRequestId = yield* ClientRequestId
    const span = yield* Effect.makeSpan(genAiSpanName(request.operation, request.params.model ?? request.modelGroup), {
      kind: "internal",
      parent,
      root: parent === undefined,
      attributes: traced
        ? {
          ...requestAttributes(request.operation, request.modelGroup, request.params),
          "inferline.request_id": request.requestId,
          ...endUserAttributes(request),
          ...(clientRequestId !== undefined && { "inferline.client_request_id": clientRequestId }),
          ...(capture && request.input !== undefined && { "gen_ai.input.messages": JSON.stringify(request.input) })
        }
        : undefined
    })
    return observed({ request, clientRequestId, startedMs, span, traced, details: {}, ended: false, firstTokenAt: undefined })
  })

  const finish = Effect.fnUntraced(function*(o: Observation, more: RequestDetails) {
    const { request, span, startedMs } = o
    const d = { ...o.details, ...more }
    const endMs = yield* Clock.currentTimeMillis
    const first = d.firstTokenAt ?? o.firstTokenAt
    const status: SpendStatus = d.status ?? "ok"
    const provider = d.provider ?? defaultProvider
    const deployment = d.deployment ?? defaultDeployment
    const inputTokens = d.inputTokens ?? 0
    const cachedInputTokens = d.cachedInputTokens ?? 0
    const outputTokens = d.outputTokens ?? 0
    const errorType = status === "error" ? d.errorType ?? "_OTHER" : status === "aborted" ? "aborted" : undefined
    if (o.traced) {
      const attributes = responseAttributes({ provider, responseId: d.responseId, responseModel: d.responseModel, finishReasons: d.finishReasons, inputTokens, cachedInputTokens, outputTokens, errorType })
      for (const [k, v] of Object.entries(attributes)) span.attribute(k, v)
      span.attribute("inferline.deployment", deployment)
      if (first !== undefined) span.attribute("langfuse.observation.completion_start_time", new Date(first).toISOString())
      if (capture && d.output !== undefined) span.attribute("gen_ai.output.messages", typeof d.output === "string" ? d.output : JSON.stringify(d.output))
    }
    span.end(BigInt(endMs) * 1_000_000n, status === "ok" ? Exit.void : Exit.fail(errorType))

    yield* recordGenAiMetrics({
      attributes: {
        "gen_ai.operation.name": request.operation,
        "gen_ai.request.model": request.params.model ?? request.modelGroup,
        // A request refused before any deployment was tried has no provider: no empty label value.
        ...(provider !== "" && { "gen_ai.provider.name": provider }),
        ...(errorType !== undefined && { "error.type": metricErrorType(errorType) })
      },
      durationSeconds: (endMs - startedMs) / 1000,
      ttftSeconds: first === undefined ? null : (first - startedMs) / 1000,
      inputTokens,
      outputTokens
    })

    const cost = d.responseCacheHit === true ? 0 : costOf(priceFor(prices, deployment, request.modelGroup), { inputTokens, cachedInputTokens, outputTokens })
    const p = request.principal
    yield* ledger.record({
      request_id: request.requestId,
      client_request_id: o.clientRequestId ?? null,
      key_id: p._tag === "Key" ? p.key.id : null,
      key_prefix: p._tag === "Key" ? p.key.key_prefix : null,
      team_id: p._tag === "Key" ? p.team?.id ?? p.key.team_id : null,
      operation: request.operation,
      model_group: request.modelGroup,
      deployment,
      provider,
      response_model: d.responseModel ?? null,
      status,
      error_type: errorType ?? null,
      input_tokens: inputTokens,
      cached_input_tokens: cachedInputTokens,
      output_tokens: outputTokens,
      cost,
      start_time: new Date(startedMs),
      first_token_time: first === undefined ? null : new Date(first),
      end_time: new Date(endMs),
      cache_hit: d.responseCacheHit === true,
      tags: request.tags ?? [],
      end_user: request.endUser ?? null,
      session_id: request.sessionId ?? null,
      saved_cost: d.responseCacheHit === true ? d.savedCost ?? 0 : 0
    })
    if (cost > 0) yield* budgets.charge(p, cost)
    if (cost > 0 && request.endUser != null) yield* endUserBudgets.charge(request.endUser, cost)
  })

  const observed = (o: Observation): ObservedRequest => {
    const update = (more: RequestDetails) => Effect.sync(() => void (o.details = { ...o.details, ...more }))
    const firstToken = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void (o.firstTokenAt ??= now)))

    const end = (more: RequestDetails = {}) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (o.ended) return Effect.void
        o.ended = true
        return finish(o, more)
      }))

    const onExit = <A, E>(exit: Exit.Exit<A, E>) =>
      Exit.isSuccess(exit)
        ? end()
        : Cause.hasInterruptsOnly(exit.cause)
        ? end({ status: "aborted" })
        : end({ status: "error", errorType: errorTypeOf(exit.cause) })

    return { requestId: o.request.requestId, span: o.span, capturesOutput: capture && o.traced, update, firstToken, end, onExit }
  }

  return { start, costOf: (deployment, modelGroup, usage) => costOf(priceFor(prices, deployment, modelGroup), usage) }
}

export const makeRequestObserver = (options: RequestObserverOptions = {}) =>
  Effect.gen(function*() {
    return observerWith(yield* Ledger, yield* Budgets, yield* EndUserBudgets, options)
  })

/** The real observer: its ledger rows go to the Ledger, its costs to the Budgets. */
export const requestObserverLayer = (options: RequestObserverOptions = {}): Layer.Layer<never, never, Ledger> =>
  Layer.effect(RequestObserver, makeRequestObserver(options))

/** INFERLINE_OTEL_CAPTURE_CONTENT=true: prompts and completions go on spans (they may hold personal data). */
export const captureContentFromEnv = (env: Record<string, string | undefined> = process.env): boolean =>
  ["1", "true", "yes", "on"].includes((env.INFERLINE_OTEL_CAPTURE_CONTENT ?? "").toLowerCase())
