import { Effect, type Scope, Stream } from "effect"
import type { Engine, EngineDelta, GenerateRequest } from "../actors/engine.ts"
import { fromEngineError, type ApiError } from "./errors.ts"
import { instrumentGeneration } from "./metrics.ts"
import { prependToPull, pullFirst } from "../effect/stream-pull.ts"

/** An engine delta tagged with the prompt it belongs to (legacy completions take several prompts). */
export interface PromptDelta extends EngineDelta {
  readonly promptIndex: number
}

/**
 * The deltas of all prompts of one API request, interleaved as the engine produces them, with
 * per-request metrics. Nothing accumulates here (only merging several prompts holds a few deltas in a
 * bounded buffer): the engine's per-sequence queues are the buffers, so a slow reader pauses its own
 * sequences. Interrupting the stream aborts every prompt's request.
 */
export const generateAll = (
  engine: Engine["Service"],
  requests: ReadonlyArray<GenerateRequest>
): Stream.Stream<PromptDelta, ApiError> => {
  const arrivalMs = performance.now()
  const streams = requests.map((request, promptIndex) =>
    engine.generate(request).pipe(
      instrumentGeneration(engine.info.modelName, arrivalMs, request.params.n),
      Stream.map((d): PromptDelta => ({ ...d, promptIndex })),
      Stream.mapError(fromEngineError)
    )
  )
  return streams.length === 1 ? streams[0] : Stream.mergeAll(streams, { concurrency: "unbounded" })
}

/**
 * Runs a stream up to its first element before an HTTP response is committed, so that failures at the
 * start (engine overloaded, invalid request) still become a proper status code instead of a 200 with an
 * error event. The rest of the stream is read from the same pull; it lives in the request's scope,
 * which the HTTP server keeps open until the response body is done (or the client is gone).
 */
export const startStream = <A, E>(stream: Stream.Stream<A, E>): Effect.Effect<Stream.Stream<A, E>, E, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.map(pullFirst(stream, scope), ({ first, pull }) => (first.length === 0 ? Stream.empty : prependToPull(first, pull))))
