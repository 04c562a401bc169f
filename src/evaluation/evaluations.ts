import { Context, Duration, Effect, Metric, Queue, type Tracer } from "effect"
import { counterFamily } from "../effect/metric-family.ts"
import { postAlert } from "../observability/alert-webhook.ts"
import { spansRecorded, withTracedParent, withTracedSpan } from "../observability/traced-span.ts"
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
  /**
   * What was asked (the last user turn, or the prompt) and what was answered: read off the request and
   * the response by the worker, not by the request handing them over.
   */
  readonly text: () => AnswerText
  /** The request's span, when it was traced: scores become its children's events and Langfuse links to it. */
  readonly span: Tracer.AnySpan | undefined
}

export interface AnswerText {
  readonly question: string
  readonly answer: string
}

/** An LLM judge's grade of an answer (the http layer routes it: evaluation sits below the router). */
export type Judge = (model: string, prompt: string, question: string, answer: string) => Effect.Effect<Verdict, string>

/** Where scores go once made (several at once); a sink's failure is its own to log (it must not stop the others). */
export type ScoreSink = (scores: ReadonlyArray<Score>) => Effect.Effect<void>

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

/** Answers scored between two turns of the event loop (see scoreBatch). */
const SLICE = 16

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
    const queue = yield* Queue.dropping<Submitted>(options.queueCapacity ?? 10_000)
    const rolling = new Map<string, RollingScore>()

    /** The alert rule's window of this evaluator on this group; whether this score made it alert. */
    const crossedBy = (spec: EvaluatorSpec, score: Score, windows: Map<string, Touched>): boolean => {
      const rule = spec.alert
      if (rule === undefined) return false
      const key = `${spec.name}\u0000${score.modelGroup}`
      let window = rolling.get(key)
      if (window === undefined) rolling.set(key, (window = new RollingScore(rule.window)))
      windows.set(key, { spec, modelGroup: score.modelGroup, window })
      return window.add(score.value, rule.below)
    }

    const alert = (spec: EvaluatorSpec, score: Score, mean: number) =>
      Effect.gen(function*() {
        const rule = spec.alert!
        const alert = { type: "evaluation_alert", evaluator: spec.name, model_group: score.modelGroup, mean, below: rule.below, window: rule.window, last_request_id: score.requestId }
        const text = `Evaluation alert: ${spec.name} on ${score.modelGroup} averaged ${mean.toFixed(3)} over the last ${rule.window} answers (alert below ${rule.below}).`
        yield* Effect.logWarning(text)
        yield* Metric.update(alerts({ evaluator: spec.name, model_group: score.modelGroup }), 1)
        if (rule.webhookUrl !== undefined) yield* postAlert(rule.webhookUrl, rule.format, alert, text)
      })

    /**
     * One batch of answers scored. A rule evaluator's verdict is made without an Effect of its own, and
     * the scores of untraced answers go to the sinks together (one journal append loop per slice, not an
     * Effect per score); the counters and gauges are updated once per batch. The batch is scored in
     * slices with a turn of the event loop between them, so a request in flight waits for one slice at
     * most: at 100% sampling the worker's CPU per answer is what the requests running beside it lose.
     */
    const scoreBatch = (batch: ReadonlyArray<Submitted>) =>
      Effect.gen(function*() {
        const traced = yield* spansRecorded
        const tally = new Map<string, { readonly evaluator: string; readonly modelGroup: string; n: number }>()
        const windows = new Map<string, Touched>()
        /** Makes the score, counts it, and returns the alert it raised (if it made its window cross). */
        const record = (a: CompletedAnswer, spec: EvaluatorSpec, verdict: Verdict): Recorded => {
          const score = scoreOf(a, spec, verdict)
          const key = `${spec.name}\u0000${a.modelGroup}`
          const counted = tally.get(key)
          if (counted === undefined) tally.set(key, { evaluator: spec.name, modelGroup: a.modelGroup, n: 1 })
          else counted.n++
          return { score, alert: crossedBy(spec, score, windows) ? alert(spec, score, rolling.get(key)!.mean) : undefined }
        }
        const recordAlone = (a: CompletedAnswer, spec: EvaluatorSpec, verdict: Verdict) => {
          const { alert, score } = record(a, spec, verdict)
          const stored = traced ? Effect.andThen(resultEvent(score), store([score])) : store([score])
          return alert === undefined ? stored : Effect.andThen(stored, alert)
        }
        for (let start = 0; start < batch.length; start += SLICE) {
          if (start > 0) yield* Effect.yieldNow
          const together: Array<Score> = []
          const raised: Array<Effect.Effect<void>> = []
          for (const { answer, evaluators } of batch.slice(start, start + SLICE)) {
            const text = answer.text()
            for (const spec of evaluators) {
              const rule = ruleVerdict(spec.check, text.answer)
              if (rule !== undefined && !traced) {
                const { alert, score } = record(answer, spec, rule)
                together.push(score)
                if (alert !== undefined) raised.push(alert)
                continue
              }
              const scored = rule !== undefined
                ? Effect.suspend(() => recordAlone(answer, spec, rule))
                : judged(spec, text).pipe(
                  Effect.flatMap((verdict) => recordAlone(answer, spec, verdict)),
                  Effect.catch((reason) =>
                    Effect.andThen(Metric.update(failed({ evaluator: spec.name }), 1), Effect.logWarning(`evaluation ${spec.name} of request ${answer.requestId} failed: ${reason}`)))
                )
              yield* traced ? tracedEvaluation(scored, spec, answer) : scored
            }
          }
          if (together.length > 0) yield* store(together)
          for (const raise of raised) yield* raise
        }
        for (const { evaluator, modelGroup, n } of tally.values()) yield* Metric.update(scored({ evaluator, model_group: modelGroup }), n)
        for (const { spec, modelGroup, window } of windows.values()) {
          yield* Metric.update(Metric.withAttributes(meanGauge, { evaluator: spec.name, model_group: modelGroup }), window.mean)
        }
      })

    const store = (scores: ReadonlyArray<Score>) => Effect.forEach(options.sinks, (sink) => sink(scores), { discard: true })

    const judged = (spec: EvaluatorSpec, text: AnswerText): Effect.Effect<Verdict, string> => {
      const check = spec.check as Extract<EvaluatorSpec["check"], { kind: "llm_judge" }>
      return options.judge(check.model, check.prompt, text.question, text.answer)
    }

    // Scoring starts BATCH_DELAY after an answer is handed over, with everything queued by then: the
    // request that handed it over has written its response, and a burst of answers is scored in one go
    // (one journal write for their scores) instead of once between each two requests.
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), (first) =>
      Effect.flatMap(Effect.andThen(Effect.sleep(BATCH_DELAY), Queue.clear(queue)), (rest) => scoreBatch([first, ...rest])))))

    const service: EvaluationsService = {
      sampled: (group) => options.evaluators.filter((e) => (e.groups.size === 0 || e.groups.has(group)) && e.sampleRate > 0 && random() < e.sampleRate),
      submit: (answer, evaluators) =>
        evaluators.length === 0 ? Effect.void : Effect.suspend(() => (Queue.offerUnsafe(queue, { answer, evaluators }) ? Effect.void : Metric.update(dropped, 1)))
    }
    return service
  })

interface Submitted {
  readonly answer: CompletedAnswer
  readonly evaluators: ReadonlyArray<EvaluatorSpec>
}

/** A score made, and the alert it raised (run after the score is stored). */
interface Recorded {
  readonly score: Score
  readonly alert: Effect.Effect<void> | undefined
}

/** An alert window a batch added to (its gauge is updated once, after the batch). */
interface Touched {
  readonly spec: EvaluatorSpec
  readonly modelGroup: string
  readonly window: RollingScore
}

const scoreOf = (a: CompletedAnswer, spec: EvaluatorSpec, verdict: Verdict): Score => ({
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
  traceId: a.span?.traceId ?? null,
  spanId: a.span?.spanId ?? null,
  createdAt: new Date()
})

/** An evaluation as a span under the request's own (when spans are recorded). */
const tracedEvaluation = <E>(scoring: Effect.Effect<void, E>, spec: EvaluatorSpec, a: CompletedAnswer) =>
  scoring.pipe(
    withTracedSpan("gen_ai.evaluation", { attributes: { "gen_ai.evaluation.name": spec.name, "inferline.request_id": a.requestId } }),
    a.span === undefined ? (e) => e : withTracedParent(a.span)
  )
