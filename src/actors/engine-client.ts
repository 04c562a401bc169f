import { Effect, type Scope, Stream } from "effect"
import { prependToPull, pullFirst } from "../effect/stream-pull.ts"
import type { Engine, EngineDelta, EngineError, GenerateRequest } from "./engine.ts"

/**
 * The engine's client side, shared by whoever serves a request from the engine (the router's local
 * provider; vLLM's AsyncLLM plays this part): one API request's prompts as one stream, and a stream
 * started before a response is committed.
 */

/** An engine delta tagged with the prompt it belongs to (legacy completions take several prompts). */
export interface PromptDelta extends EngineDelta {
  readonly promptIndex: number
}

/** Something to put around each prompt's stream of deltas (e.g. per-sequence latency metrics). */
export type DeltaObserver = (request: GenerateRequest) => <E>(deltas: Stream.Stream<EngineDelta, E>) => Stream.Stream<EngineDelta, E>

/**
 * The deltas of all prompts of one API request, interleaved as the engine produces them. Nothing
 * accumulates here (only merging several prompts holds a few deltas in a bounded buffer): the engine's
 * per-sequence queues are the buffers, so a slow reader pauses its own sequences. Interrupting the
 * stream aborts every prompt's request.
 */
export const generateAll = (
  engine: Engine["Service"],
  requests: ReadonlyArray<GenerateRequest>,
  observe?: DeltaObserver
): Stream.Stream<PromptDelta, EngineError> => {
  const streams = requests.map((request, promptIndex) => {
    const deltas = engine.generate(request)
    return (observe === undefined ? deltas : deltas.pipe(observe(request))).pipe(Stream.map((d): PromptDelta => ({ ...d, promptIndex })))
  })
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
