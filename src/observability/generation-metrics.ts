import { Cause, Effect, Exit, Metric, Option, Stream } from "effect"
import { EngineError, type EngineDelta } from "../actors/engine.ts"
import type { FinishReason } from "../engine/engine-core.ts"
import { counterFamily, histogramFamily } from "../effect/metric-family.ts"
import { onStreamExit } from "../effect/stream-pull.ts"

/**
 * Per-sequence metrics of the served model with vLLM's names (exposed under the prefix `inferline_` by
 * /metrics): TTFT, inter-token latency, end-to-end latency and finish reasons, recorded as each
 * request's deltas pass by, into the server's metric registry.
 */

// vLLM's bucket boundaries, so dashboards built for vLLM read the same.
const timeToFirstToken = histogramFamily("time_to_first_token_seconds", {
  description: "Time from request arrival to the first generated token, per sequence.",
  boundaries: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]
})
const interTokenLatency = histogramFamily("inter_token_latency_seconds", {
  description: "Time between consecutive tokens of a sequence.",
  boundaries: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
})
const e2eLatency = histogramFamily("e2e_request_latency_seconds", {
  description: "Time from request arrival to the end of a sequence (finished or aborted).",
  boundaries: [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
})
const requestSuccess = counterFamily("request_success_total", {
  description: "Finished sequences by finish reason (abort: the client went away or the request failed)."
})

export const FINISH_REASONS: ReadonlyArray<FinishReason> = ["stop", "length", "abort"]

const countFinished = (modelName: string, reason: FinishReason) =>
  Metric.update(requestSuccess({ model_name: modelName, finished_reason: reason }), 1)

/** The engine refused the request (overloaded, invalid): it never ran, so it is not an aborted request. */
const wasRefused = <E>(cause: Cause.Cause<E>): boolean => {
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) && error.value instanceof EngineError && error.value.reason !== "internal"
}

/**
 * Records TTFT, inter-token latency, end-to-end latency and the finish reason of each of the request's
 * `n` sequences as the stream passes by. Sequences that have not finished when the stream ends early
 * (client disconnect, error) count as aborted.
 */
export const instrumentGeneration = (modelName: string, arrivalMs: number, n: number) =>
<E>(deltas: Stream.Stream<EngineDelta, E>): Stream.Stream<EngineDelta, E> =>
  Stream.suspend(() => {
    const lastTokenAt = new Map<number, number>()
    const finished = new Set<number>()
    const model = { model_name: modelName }
    const ttft = timeToFirstToken(model)
    const itl = interTokenLatency(model)
    const e2e = e2eLatency(model)
    const record = (d: EngineDelta) =>
      Effect.suspend(() => {
        const now = performance.now()
        const effects: Array<Effect.Effect<void>> = []
        if (d.tokenIds.length > 0) {
          const last = lastTokenAt.get(d.index)
          effects.push(last === undefined ? Metric.update(ttft, (now - arrivalMs) / 1000) : Metric.update(itl, (now - last) / 1000))
          lastTokenAt.set(d.index, now)
        }
        if (d.finishReason !== null && !finished.has(d.index)) {
          finished.add(d.index)
          effects.push(Metric.update(e2e, (now - arrivalMs) / 1000), countFinished(modelName, d.finishReason))
        }
        return Effect.all(effects, { discard: true })
      })
    const recordAborted = Effect.suspend(() => {
      const seconds = (performance.now() - arrivalMs) / 1000
      const effects: Array<Effect.Effect<void>> = []
      for (let i = 0; i < n; i++) {
        if (!finished.has(i)) effects.push(Metric.update(e2e, seconds), countFinished(modelName, "abort"))
      }
      return Effect.all(effects, { discard: true })
    })
    return deltas.pipe(
      Stream.tap(record),
      onStreamExit((exit) => (Exit.isSuccess(exit) || wasRefused(exit.cause) ? Effect.void : recordAborted))
    )
  })

/** Every finish reason at 0 for the model, so rate() and dashboards work from the first scrape. */
export const registerFinishReasons = (modelName: string) =>
  Effect.forEach(FINISH_REASONS, (reason) => Metric.update(requestSuccess({ model_name: modelName, finished_reason: reason }), 0), { discard: true })
