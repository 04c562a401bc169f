import { Effect, Exit, Metric, Stream } from "effect"
import { ApiError, invalidRequest } from "../api/api-error.ts"
import { UsageMeter } from "../api/usage-meter.ts"
import { counterFamily } from "../effect/metric-family.ts"
import type { Principal } from "../gateway/principal.ts"
import type { GuardrailSpec } from "../guardrails/guardrail-spec.ts"
import { activeGuardrails } from "../guardrails/guardrails.ts"
import type { GuardrailViolation, OutputGuard } from "../guardrails/output-guard.ts"
import type { ObservedRequest } from "../observability/request-observer.ts"
import type { Engine } from "../actors/engine.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import type { ProviderError } from "../router/providers/provider.ts"
import type { RouterService } from "../router/router.ts"
import { guardChunks, guardResponse } from "./guarded-answer.ts"

/**
 * The guardrails on the request path: which run for a request, refusing a request they block (a 400
 * the ledger and the metrics see), asking the llm_judge ones, and guarding the answer.
 */

const actions = counterFamily("guardrail_actions_total", { description: "What guardrails did: blocked a request, masked personal data, cut or filtered an answer, a judge failed a request." })

export const countGuardrail = (guardrail: string, action: "blocked" | "masked" | "filtered") => Metric.update(actions({ guardrail, action }), 1)

const blocked = (v: GuardrailViolation) =>
  new ApiError({
    status: 400,
    type: "invalid_request_error",
    message: `The request was blocked by guardrail ${v.guardrail}: ${v.reason}.`,
    param: null,
    code: "guardrail_blocked"
  })

/** The guardrails of a request: its key's and team's choices and its own `guardrails` field (names of configured ones). */
export const requestGuardrails = (specs: ReadonlyArray<GuardrailSpec>, principal: Principal, requested: unknown): ReadonlyArray<GuardrailSpec> | ApiError => {
  if (requested !== undefined && requested !== null && !(Array.isArray(requested) && requested.every((n) => typeof n === "string" && specs.some((s) => s.name === n)))) {
    return invalidRequest(`\`guardrails\` must be a list of configured guardrail names (${specs.map((s) => s.name).join(", ") || "none configured"}).`, "guardrails")
  }
  if (specs.length === 0) return []
  return activeGuardrails(specs, {
    keyMetadata: principal._tag === "Key" ? principal.key.metadata : undefined,
    teamMetadata: principal._tag === "Key" ? principal.team?.metadata : undefined,
    requested: requested as ReadonlyArray<string> | undefined
  })
}

/** Refuses a request a guardrail blocked: its span and ledger row end with the error, the metric counts it. */
export const refuse = (observed: ObservedRequest, v: GuardrailViolation) =>
  Effect.andThen(countGuardrail(v.guardrail, "blocked"), Effect.andThen(observed.onExit(Exit.fail(blocked(v))), Effect.fail(blocked(v))))

const JUDGE_SCHEMA = {
  type: "object",
  properties: { verdict: { type: "string", enum: ["pass", "fail"] }, reason: { type: "string", maxLength: 200 } },
  required: ["verdict", "reason"],
  additionalProperties: false
}

/** The judge's verdict in its answer: `{"verdict": "pass"|"fail", "reason": ...}`; anything else is a failure to judge. */
const verdictOf = (json: unknown): { readonly pass: boolean; readonly reason: string } | undefined => {
  const content = (json as { choices?: Array<{ message?: { content?: unknown } }> } | null)?.choices?.[0]?.message?.content
  if (typeof content !== "string") return undefined
  try {
    const v = JSON.parse(content.trim()) as { verdict?: unknown; reason?: unknown }
    return v.verdict === "pass" || v.verdict === "fail" ? { pass: v.verdict === "pass", reason: typeof v.reason === "string" ? v.reason : "" } : undefined
  } catch {
    return undefined
  }
}

/**
 * Asks each llm_judge guardrail's model group (through the router, with a strict JSON schema) about the
 * request's text; a fail, or an answer that is not a verdict, blocks the request (fail closed).
 */
export const runJudges = Effect.fnUntraced(function*(
  router: RouterService,
  judges: ReadonlyArray<{ readonly spec: GuardrailSpec; readonly text: string }>,
  localFor: (body: Readonly<Record<string, unknown>>) => Effect.Effect<LocalRequest, ProviderError, Engine>,
  observed: ObservedRequest
) {
  for (const { spec, text } of judges) {
    if (spec.check.kind !== "llm_judge") continue
    const body = {
      model: spec.check.model,
      messages: [{ role: "system", content: spec.check.prompt }, { role: "user", content: text }],
      temperature: 0,
      max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "guardrail_verdict", strict: true, schema: JUDGE_SCHEMA } }
    }
    const promptTokens = Math.ceil(text.length / 4)
    const result = yield* router.complete({ kind: "chat", group: spec.check.model, body, promptTokens, local: localFor(body), meter: new UsageMeter(promptTokens) }).pipe(Effect.option)
    const verdict = result._tag === "Some" ? verdictOf(result.value.value.json) : undefined
    if (verdict === undefined) yield* refuse(observed, { guardrail: spec.name, reason: "the judge gave no verdict" })
    else if (!verdict.pass) yield* refuse(observed, { guardrail: spec.name, reason: `the judge failed it (${verdict.reason || "no reason given"})` })
  }
})

/** An answer a guardrail filtered: counted and logged (the answer itself ends with content_filter). */
const filtered = (v: GuardrailViolation) =>
  Effect.andThen(countGuardrail(v.guardrail, "filtered"), Effect.logWarning(`guardrail ${v.guardrail} filtered the answer: ${v.reason}`))

/** An answer with its output guarded (whole or streamed); untouched when the guard has nothing to do. */
export const guardedAnswer = <A extends { readonly _tag: "Stream"; readonly chunks: Stream.Stream<string, ApiError> } | { readonly _tag: "Complete"; readonly result: { readonly json: unknown; readonly text: string | undefined } }>(
  kind: "chat" | "completions",
  answer: A,
  guard: OutputGuard,
  usageChunk: () => string | undefined
): Effect.Effect<A> => {
  if (!guard.active) return Effect.succeed(answer)
  if (answer._tag === "Complete") {
    const { response, violations } = guardResponse(kind, answer.result.json as Record<string, unknown>, guard)
    return Effect.as(Effect.forEach(violations, filtered, { discard: true }), { ...answer, result: { json: response, text: undefined } })
  }
  return Effect.succeed({ ...answer, chunks: guardChunks(kind, answer.chunks, guard, filtered, usageChunk) })
}
