import { Cause, Effect, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpServerResponse } from "effect/http"
import { apiErrorFromCause, errorBody, type ApiError } from "./errors.ts"

/** The stream's terminator, as OpenAI sends it. */
export const DONE = "[DONE]"

/**
 * A stream of JSON chunks as an OpenAI server-sent-events response: each chunk is one `data: {json}\n\n`
 * event, then `data: [DONE]\n\n`. A failure after the response has started becomes one error event
 * (`data: {"error": {...}}`) before [DONE], as vLLM does; an interruption (client gone) just ends it.
 * The body is the chunk stream itself, encoded as it is pulled: nothing is collected or buffered.
 */
export const sseResponse = (chunks: Stream.Stream<unknown, ApiError>): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    chunks.pipe(
      Stream.map((chunk) => JSON.stringify(chunk)),
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(JSON.stringify(errorBody(e))))))
      ),
      Stream.concat(Stream.succeed(DONE)),
      Stream.map((data): Sse.Event => ({ _tag: "Event", event: "message", id: undefined, data })),
      Stream.pipeThroughChannel(Sse.encode()),
      Stream.encodeText
    ),
    {
      contentType: "text/event-stream",
      // Proxies (nginx) must pass events through as they come.
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    }
  )
