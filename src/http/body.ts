import { NodeHttpServerRequest } from "@effect/platform-node"
import { ByteSize, Context, Effect, Schema } from "effect"
import { HttpIncomingMessage, HttpServerRequest } from "effect/http"
import type { IncomingMessage } from "node:http"
import type { Http2ServerRequest } from "node:http2"
import { bodyTooLarge, fromSchemaError, invalidRequest, type ApiError } from "../api/api-error.ts"

/** Largest request body the API reads (--max-request-body-size); larger ones get a 413. */
export const MaxRequestBodyBytes = Context.Reference<number>("inferline/http/MaxRequestBodyBytes", {
  defaultValue: () => 2 * 2 ** 20
})

/** Parses JSON text; malformed input is a 400 that says where parsing stopped. */
export const parseJson = (text: string): Effect.Effect<unknown, ApiError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) => invalidRequest(`We could not parse the JSON body of your request: ${(e as Error).message}`, null, "invalid_json")
  })

/** Decodes already parsed JSON with a request schema; unknown fields are ignored, wrong types named. */
export const decodeJson = <A>(schema: Schema.ConstraintDecoder<A>, json: unknown): Effect.Effect<A, ApiError> =>
  Schema.decodeUnknownEffect(schema)(json).pipe(Effect.mapError(fromSchemaError))

/**
 * The body as text straight from Node's request: one callback, no stream machinery. Counted while
 * reading, so a lying or missing Content-Length cannot get around the limit; past it, reading stops
 * (the server drains or closes the rest once the 413 is sent). Undefined when the platform must do the
 * reading: not a Node request, or `Expect: 100-continue` (the platform answers it when the body is read).
 */
const readNodeBodyText = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<string, ApiError> | undefined => {
  let incoming: IncomingMessage | Http2ServerRequest
  try {
    incoming = NodeHttpServerRequest.toIncomingMessage(request)
  } catch {
    return undefined
  }
  if (incoming.headers.expect !== undefined || incoming.readableEnded) return undefined
  return Effect.callback<string, ApiError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
      incoming.off("aborted", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        stop()
        incoming.pause()
        return resume(Effect.fail(bodyTooLarge(limit)))
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")))
    }
    const onError = () => {
      stop()
      resume(Effect.fail(unreadableBody()))
    }
    incoming.on("data", onData)
    incoming.on("end", onEnd)
    incoming.on("error", onError)
    incoming.on("aborted", onError)
    return Effect.sync(stop)
  })
}

/** The body as text through the platform (the rare requests the Node path leaves to it), same limit and errors. */
const readPlatformBodyText = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<string, ApiError> =>
  request.text.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
    Effect.mapError((e) => (e.reason._tag === "RequestParseError" && e.reason.reason === "BodyTooLarge" ? bodyTooLarge(limit) : unreadableBody()))
  )

const unreadableBody = () => invalidRequest("The request body could not be read.")

/**
 * Reads the request body (at most MaxRequestBodyBytes, counted while reading, so a lying or missing
 * Content-Length cannot get around it) and parses it as JSON, without decoding it.
 */
export const readJson: Effect.Effect<unknown, ApiError, HttpServerRequest.HttpServerRequest> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const limit = yield* MaxRequestBodyBytes
  const text = yield* (readNodeBodyText(request, limit) ?? readPlatformBodyText(request, limit))
  return yield* parseJson(text)
})

/** `readJson`, then decoded with `schema`. */
export const readJsonBody = <A>(schema: Schema.ConstraintDecoder<A>) => Effect.flatMap(readJson, (json) => decodeJson(schema, json))
