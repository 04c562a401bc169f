import { Cause, Effect, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { appendOnEnd } from "../effect/stream-pull.ts"
import type { ApiError } from "../api/api-error.ts"
import { apiErrorFromCause, errorBody } from "./errors.ts"

/** The stream's terminator, as OpenAI sends it. */
export const DONE = "[DONE]"

/** One SSE event per payload; a payload of several lines (rare) gets one `data:` line each. */
const event = (data: string) => (data.includes("\n") ? data.split("\n").map((l) => `data: ${l}\n`).join("") + "\n" : `data: ${data}\n\n`)

/**
 * JSON chunks (as text: the router's providers pass an upstream's chunks through without parsing and
 * re-encoding them) as an OpenAI server-sent-events response: one `data: {json}\n\n` event each, then
 * `data: [DONE]\n\n`. Chunks that arrive together are written together. A failure after the response has
 * started becomes one error event before [DONE], as vLLM does; an interruption (client gone) just ends
 * it. The body is the chunk stream itself, encoded as it is pulled: nothing is collected or buffered.
 */
export const sseDataResponse = (payloads: Stream.Stream<string, ApiError>, headers: Readonly<Record<string, string>>): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    payloads.pipe(
      Stream.mapArray((batch) => [batch.length === 1 ? event(batch[0]) : batch.map(event).join("")] as const),
      Stream.catchCause((cause) =>
        Stream.unwrap(Effect.map(apiErrorFromCause(cause), (e) => (e === null ? Stream.failCause(cause as Cause.Cause<never>) : Stream.succeed(event(JSON.stringify(errorBody(e)))))))
      ),
      appendOnEnd(event(DONE)),
      Stream.encodeText
    ),
    {
      contentType: "text/event-stream",
      // Proxies (nginx) must pass events through as they come.
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers }
    }
  )
