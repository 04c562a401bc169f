import { Channel, Effect, Pull, Scope, Stream } from "effect"
import type { Engine, EngineDelta, GenerateRequest } from "../actors/engine.ts"
import { fromEngineError, type ApiError } from "./errors.ts"
import { instrumentGeneration } from "./metrics.ts"
import { prependToPull } from "../effect/stream-pull.ts"

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
  startStreamOf(stream) as Effect.Effect<Stream.Stream<A, E>, E, Scope.Scope>

// Made once (see bench/scavenge-survivors.ts); not generic, so startStream puts the types back.
const startStreamOf = Effect.fnUntraced(function*(stream: Stream.Stream<unknown, unknown>) {
  // Not Stream.toPull: it re-provides its context on every pull (copies of the whole service map, per
  // token here); these pulls are sequential and run where the context is already right.
  const pull = yield* Channel.toPullScoped(Stream.toChannel(stream), yield* Scope.Scope)
  const first = yield* pull.pipe(Pull.catchDone(() => Effect.succeed(null)))
  if (first === null) return Stream.empty
  return prependToPull(first, pull)
})
