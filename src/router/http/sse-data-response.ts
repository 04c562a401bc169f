import { Cause, Effect, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { apiErrorFromCause, errorBody, type ApiError } from "../../http/errors.ts"
import { DONE } from "../../http/sse.ts"

/** One SSE event per payload; a payload of several lines (rare) gets one `data:` line each. */
const event = (data: string) => (data.includes("\n") ? data.split("\n").map((l) => `data: ${l}\n`).join("") + "\n" : `data: ${data}\n\n`)

/**
 * Like sseResponse (src/http/sse.ts) but for chunks that are JSON text already, as the router's
 * providers yield them (an upstream's chunks are passed through without being parsed and re-encoded).
 * The chunks that arrive together are written together. A failure after the start becomes one error
 * event before [DONE]; an interruption (client gone) just ends the body.
 */
export const sseDataResponse = (payloads: Stream.Stream<string, ApiError>, headers: Readonly<Record<string, string>>): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    payloads.pipe(
      Stream.mapArray((batch) => [batch.length === 1 ? event(batch[0]) : batch.map(event).join("")] as const),
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(event(JSON.stringify(errorBody(e)))))))
      ),
      Stream.concat(Stream.succeed(event(DONE))),
      Stream.encodeText
    ),
    {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers }
    }
  )
