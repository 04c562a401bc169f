import { Context, Effect, Exit, Metric, Option, type Tracer } from "effect"
import { histogramFamily } from "../effect/metric-family.ts"

/**
 * When one sequence went through the engine's phases (epoch ms, from the engine actor's clock): submitted,
 * first scheduled (end of the queue wait), first token (end of prefill), finished (end of decode).
 * The actor stamps them as it goes (a field write per event); they are turned into spans and histograms
 * in the reader's fiber when its stream closes, so the actor's loop does no tracing work.
 */
export interface EnginePhases {
  readonly requestId: string
  readonly index: number
  readonly submittedAt: number
  scheduledAt: number | undefined
  firstTokenAt: number | undefined
  finishedAt: number | undefined
  /** Speculative decoding: the sequence's verified and accepted draft tokens (absent when it did not speculate). */
  specDecode?: { readonly numDraftTokens: number; readonly numAcceptedTokens: number }
}

// vLLM's names (request_queue_time_seconds ...) and its request-latency buckets.
const boundaries = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
const queueTime = histogramFamily("request_queue_time_seconds", { description: "Time a sequence waited before it was first scheduled.", boundaries })
const prefillTime = histogramFamily("request_prefill_time_seconds", { description: "Time from first scheduled to first token (prefill).", boundaries })
const decodeTime = histogramFamily("request_decode_time_seconds", { description: "Time from first token to the end of the sequence (decode).", boundaries })

const nanos = (ms: number) => BigInt(Math.round(ms * 1_000_000))

/**
 * Histograms for the phases a sequence reached, and, when the request is traced (`parent`), one child
 * span per phase: `engine.queue`, `engine.prefill`, `engine.decode`. A phase still open when the stream
 * closed (client gone) ends at `nowMs`.
 */
export const recordEnginePhases = (modelName: string, parent: Option.Option<Tracer.AnySpan>, phases: ReadonlyArray<EnginePhases>, nowMs: number) =>
  Effect.gen(function*() {
    const tracer = Option.isSome(parent) ? yield* Effect.tracer : undefined
    const attrs = { model_name: modelName }
    for (const p of phases) {
      const intervals: Array<[string, typeof queueTime, number, number | undefined]> = [
        ["engine.queue", queueTime, p.submittedAt, p.scheduledAt],
        ["engine.prefill", prefillTime, p.scheduledAt ?? NaN, p.firstTokenAt],
        ["engine.decode", decodeTime, p.firstTokenAt ?? NaN, p.finishedAt]
      ]
      for (const [name, histogram, start, end] of intervals) {
        if (Number.isNaN(start)) break // never reached this phase
        const stop = end ?? nowMs
        if (end !== undefined) yield* Metric.update(histogram(attrs), (stop - start) / 1000)
        if (tracer !== undefined && Option.isSome(parent)) {
          const span = tracer.span({
            name,
            parent,
            annotations: Context.empty(),
            links: [],
            startTime: nanos(start),
            kind: "internal",
            root: false,
            sampled: parent.value.sampled
          })
          span.attribute("inferline.request_id", p.requestId)
          span.attribute("gen_ai.choice.index", p.index)
          if (name === "engine.decode" && p.specDecode !== undefined) {
            span.attribute("inferline.spec_decode.num_draft_tokens", p.specDecode.numDraftTokens)
            span.attribute("inferline.spec_decode.num_accepted_tokens", p.specDecode.numAcceptedTokens)
          }
          span.end(nanos(stop), Exit.void)
        }
        if (end === undefined) break
      }
    }
  })
