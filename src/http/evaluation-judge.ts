import { Effect, Layer } from "effect"
import { Engine } from "../actors/engine.ts"
import { UsageMeter } from "../api/usage-meter.ts"
import type { EvaluatorSpec } from "../evaluation/evaluator-spec.ts"
import { Evaluations, makeEvaluations, type Judge, type ScoreSink } from "../evaluation/evaluations.ts"
import { ProviderError } from "../router/providers/provider.ts"
import { Router } from "../router/router.ts"
import { scoreJournalSink } from "../evaluation/score-journal.ts"
import type { SqlClient } from "effect/sql"
import { chatEndpoint } from "./chat.ts"

const SCORE_SCHEMA = {
  type: "object",
  properties: { score: { type: "number", minimum: 0, maximum: 1 }, reason: { type: "string", maxLength: 300 } },
  required: ["score", "reason"],
  additionalProperties: false
}

const INSTRUCTIONS = 'Answer only with JSON: {"score": <a number from 0 to 1>, "reason": "<one short sentence>"}.'

/** The judge's grade in its answer; anything else is a failure to judge (the score is not made). */
const gradeOf = (json: unknown): { readonly value: number; readonly comment: string } | string => {
  const content = (json as { choices?: Array<{ message?: { content?: unknown } }> } | null)?.choices?.[0]?.message?.content
  if (typeof content !== "string") return "the judge answered without text"
  try {
    const g = JSON.parse(content.trim()) as { score?: unknown; reason?: unknown }
    if (typeof g.score !== "number" || !(g.score >= 0 && g.score <= 1)) return `the judge's score is not a number from 0 to 1: ${content.slice(0, 100)}`
    return { value: g.score, comment: typeof g.reason === "string" ? g.reason : "" }
  } catch {
    return `the judge's answer is not JSON: ${content.slice(0, 100)}`
  }
}

/**
 * An LLM judge over the router: the evaluator's prompt, the question and the answer to the judge's
 * model group, with a strict JSON schema for the grade (structured outputs on the served model, or
 * the upstream's). It runs on the evaluation worker, off every request's path.
 */
export const routerJudge = Effect.gen(function*() {
  const router = yield* Router
  const engine = yield* Engine
  const judge: Judge = (model, prompt, question, answer) => {
    const body = {
      model,
      messages: [
        { role: "system", content: `${prompt}\n${INSTRUCTIONS}` },
        { role: "user", content: `Request:\n${question}\n\nAnswer:\n${answer}` }
      ],
      temperature: 0,
      max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "evaluation_score", strict: true, schema: SCORE_SCHEMA } }
    }
    const promptTokens = Math.ceil((prompt.length + question.length + answer.length) / 4)
    const local = Effect.mapError(chatEndpoint.prepareChat(body), (e) => new ProviderError({ kind: "bad_request", message: e.message }))
    return router.complete({ kind: "chat", group: model, body, promptTokens, local, meter: new UsageMeter(promptTokens) }).pipe(
      Effect.provideService(Engine, engine),
      Effect.mapError((e) => `the judge ${model} failed: ${e.message}`),
      Effect.flatMap((routed) => {
        const grade = gradeOf(routed.value.json)
        return typeof grade === "string" ? Effect.fail(grade) : Effect.succeed(grade)
      })
    )
  }
  return judge
})

/**
 * The Evaluations of a config's evaluators, judging through the router, storing scores through a
 * journal under `ledgerDir` into the database, then to `sinks` (Langfuse); off (the default) without
 * evaluators.
 */
export const evaluationsLayer = (evaluators: ReadonlyArray<EvaluatorSpec>, ledgerDir: string, sinks: ReadonlyArray<ScoreSink>): Layer.Layer<never, never, Router | Engine | SqlClient.SqlClient> =>
  evaluators.length === 0
    ? Layer.empty
    : Layer.effect(Evaluations, Effect.gen(function*() {
      const stored = yield* scoreJournalSink(ledgerDir)
      return yield* makeEvaluations({ evaluators, judge: yield* routerJudge, sinks: [stored, ...sinks] })
    }))
