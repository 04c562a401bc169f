import { Context, Duration, Effect, Metric, Queue, type Tracer } from "effect"
import { counterFamily } from "../effect/metric-family.ts"
import { postAlert } from "../observability/alert-webhook.ts"
import { withTracedParent, withTracedSpan } from "../observability/traced-span.ts"
import type { EvaluatorSpec } from "./evaluator-spec.ts"
import { RollingScore } from "./rolling-score.ts"
import { ruleVerdict, type Verdict } from "./rule-evaluators.ts"
import { type Score, scoreId } from "./score.ts"

/**
 * Real-time evaluation: a sample of completed answers is scored by the configured evaluators, off the
 * request path. The request only draws the sample (`sampled`) and hands the finished answer over
 * (`submit`, which never waits: a full queue drops the answer and counts it); one fiber scores them
 * in order and sends each score to the sinks (the score store, Langfuse), a span event under the
 * request's trace, a metric, and the alert rules.
 */
export interface CompletedAnswer {
  readonly requestId: string
  readonly modelGroup: string
  readonly deployment: string | null
  readonly keyId: string | null
  readonly teamId: string | null
  readonly endUser: string | null
  /** What was asked (the last user turn, or the prompt) and what was answered. */
  readonly question: string
  readonly answer: string
  /** The request's span, when it was traced: scores become its children's events and Langfuse links to it. */
  readonly span: Tracer.AnySpan | undefined
}

/** An LLM judge's grade of an answer (the http layer routes it: evaluation sits below the router). */
export type Judge = (model: string, prompt: string, question: string, answer: string) => Effect.Effect<Verdict, string>

/** Where a score goes once made; a sink's failure is its own to log (it must not stop the others). */
export type ScoreSink = (score: Score) => Effect.Effect<void>

export interface EvaluationsService {
  /** The evaluators that score this request (each draws its sample now); empty: nothing to capture. */
  readonly sampled: (modelGroup: string) => ReadonlyArray<EvaluatorSpec>
  /** Hands a completed answer over for scoring; returns at once. */
  readonly submit: (answer: CompletedAnswer, evaluators: ReadonlyArray<EvaluatorSpec>) => Effect.Effect<void>
}

/** No evaluators: nothing sampled, nothing scored (servers without a config, tests of other layers). */
export const Evaluations = Context.Reference<EvaluationsService>("inferline/evaluation/Evaluations", {
  defaultValue: () => ({ sampled: () => [], submit: () => Effect.void })
})

const scored = counterFamily("evaluation_scores_total", { description: "Answers scored, by evaluator and model group." })
const dropped = Metric.counter("evaluation_dropped_total", { description: "Answers not scored because the evaluation queue was full." })
const failed = counterFamily("evaluation_failures_total", { description: "Evaluations that could not be made (an LLM judge that failed), by evaluator." })
const alerts = counterFamily("evaluation_alerts_total", { description: "Evaluation alerts: a model group's rolling mean score fell below the evaluator's threshold." })
const meanGauge = Metric.gauge("evaluation_score_rolling_mean", { description: "Rolling mean score of the last window of answers, by evaluator and model group." })

/** How long answers gather before the worker scores them (scores are seconds-scale data: alerts, the dashboard). */
const BATCH_DELAY = Duration.millis(20)

/** OpenTelemetry GenAI's evaluation result, as an event of the evaluation span (when spans are recorded). */
const resultEvent = (score: Score) =>
  Effect.currentSpan.pipe(
    Effect.map((span) =>
      span.event("gen_ai.evaluation.result", BigInt(score.createdAt.getTime()) * 1_000_000n, {
        "gen_ai.evaluation.name": score.evaluator,
        "gen_ai.evaluation.score.value": score.value,
        "gen_ai.evaluation.explanation": score.comment,
        "inferline.request_id": score.requestId
      })),
    Effect.catch(() => Effect.void)
  )

export interface EvaluationsOptions {
  readonly evaluators: ReadonlyArray<EvaluatorSpec>
  readonly judge: Judge
  readonly sinks: ReadonlyArray<ScoreSink>
  /** Answers waiting to be scored at most (default 10,000); more are dropped and counted. */
  readonly queueCapacity?: number
  /** Draws the sample (tests pass a seeded one). */
  readonly random?: () => number
}

/** The service and its worker fiber (scoped: the worker stops with the scope). */
export const makeEvaluations = (options: EvaluationsOptions) =>
  Effect.gen(function*() {
    const random = options.random ?? Math.random
    const queue = yield* Queue.dropping<{ readonly answer: CompletedAnswer; readonly evaluators: ReadonlyArray<EvaluatorSpec> }>(options.queueCapacity ?? 10_000)
    const rolling = new Map<string, RollingScore>()

    const verdictOf = (spec: EvaluatorSpec, a: CompletedAnswer): Effect.Effect<Verdict, string> => {
      const rule = ruleVerdict(spec.check, a.answer)
      if (rule !== undefined) return Effect.succeed(rule)
      const check = spec.check as Extract<EvaluatorSpec["check"], { kind: "llm_judge" }>
      return options.judge(check.model, check.prompt, a.question, a.answer)
    }

    const alertOn = (spec: EvaluatorSpec, score: Score) => {
      const rule = spec.alert
      if (rule === undefined) return Effect.void
      const key = `${spec.name}\u0000${score.modelGroup}`
      let window = rolling.get(key)
      if (window === undefined) rolling.set(key, (window = new RollingScore(rule.window)))
      const crossed = window.add(score.value, rule.below)
      const mean = window.mean
      return Effect.gen(function*() {
        yield* Metric.update(Metric.withAttributes(meanGauge, { evaluator: spec.name, model_group: score.modelGroup }), mean)
        if (!crossed) return
        const alert = { type: "evaluation_alert", evaluator: spec.name, model_group: score.modelGroup, mean, below: rule.below, window: rule.window, last_request_id: score.requestId }
        const text = `Evaluation alert: ${spec.name} on ${score.modelGroup} averaged ${mean.toFixed(3)} over the last ${rule.window} answers (alert below ${rule.below}).`
        yield* Effect.logWarning(text)
        yield* Metric.update(alerts({ evaluator: spec.name, model_group: score.modelGroup }), 1)
        if (rule.webhookUrl !== undefined) yield* postAlert(rule.webhookUrl, rule.format, alert, text)
      })
    }

    const evaluate = (a: CompletedAnswer, spec: EvaluatorSpec) =>
      verdictOf(spec, a).pipe(
        Effect.flatMap((verdict) => {
          const ids = a.span === undefined ? undefined : { traceId: a.span.traceId, spanId: a.span.spanId }
          const score: Score = {
            id: scoreId(a.requestId, spec.name),
            requestId: a.requestId,
            evaluator: spec.name,
            modelGroup: a.modelGroup,
            deployment: a.deployment,
            keyId: a.keyId,
            teamId: a.teamId,
            endUser: a.endUser,
            value: Math.min(1, Math.max(0, verdict.value)),
            comment: verdict.comment,
            traceId: ids?.traceId ?? null,
            spanId: ids?.spanId ?? null,
            createdAt: new Date()
          }
          return Effect.gen(function*() {
            yield* resultEvent(score)
            yield* Effect.forEach(options.sinks, (sink) => sink(score), { discard: true })
            yield* Metric.update(scored({ evaluator: spec.name, model_group: a.modelGroup }), 1)
            yield* alertOn(spec, score)
          })
        }),
        Effect.catch((reason) =>
          Effect.andThen(Metric.update(failed({ evaluator: spec.name }), 1), Effect.logWarning(`evaluation ${spec.name} of request ${a.requestId} failed: ${reason}`))),
        withTracedSpan("gen_ai.evaluation", { attributes: { "gen_ai.evaluation.name": spec.name, "inferline.request_id": a.requestId } }),
        a.span === undefined ? (e) => e : withTracedParent(a.span)
      )

    // Scoring starts BATCH_DELAY after an answer is handed over, with everything queued by then: the
    // request that handed it over has written its response, and a burst of answers is scored in one go
    // (one journal write for their scores) instead of once between each two requests.
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), (first) =>
      Effect.flatMap(Effect.andThen(Effect.sleep(BATCH_DELAY), Queue.clear(queue)), (rest) =>
        Effect.forEach([first, ...rest], ({ answer, evaluators }) => Effect.forEach(evaluators, (spec) => evaluate(answer, spec), { discard: true }), { discard: true })))))

    const service: EvaluationsService = {
      sampled: (group) => options.evaluators.filter((e) => (e.groups.size === 0 || e.groups.has(group)) && e.sampleRate > 0 && random() < e.sampleRate),
      submit: (answer, evaluators) =>
        evaluators.length === 0 ? Effect.void : Effect.suspend(() => (Queue.offerUnsafe(queue, { answer, evaluators }) ? Effect.void : Metric.update(dropped, 1)))
    }
    return service
  })
