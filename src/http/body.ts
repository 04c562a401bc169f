import { ByteSize, Context, Effect, Schema } from "effect"
import { HttpIncomingMessage, HttpServerRequest } from "effect/http"
import { bodyTooLarge, fromSchemaError, invalidRequest, type ApiError } from "./errors.ts"

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
 * Reads the request body (at most MaxRequestBodyBytes, counted while reading, so a lying or missing
 * Content-Length cannot get around it) and parses it as JSON, without decoding it.
 */
export const readJson: Effect.Effect<unknown, ApiError, HttpServerRequest.HttpServerRequest> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const limit = yield* MaxRequestBodyBytes
  // The server provides the limit once (server.ts); providing it per request costs a context entry.
  const bodyLimit = yield* HttpIncomingMessage.MaxBodySize
  const read = bodyLimit !== undefined && ByteSize.toBigInt(bodyLimit) === BigInt(limit) ? request.text : request.text.pipe(Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)))
  const text = yield* read.pipe(
    Effect.mapError((e) =>
      e.reason._tag === "RequestParseError" && e.reason.reason === "BodyTooLarge"
        ? bodyTooLarge(limit)
        : invalidRequest("The request body could not be read.")
    )
  )
  return yield* parseJson(text)
})

/** `readJson`, then decoded with `schema`. */
export const readJsonBody = <A>(schema: Schema.ConstraintDecoder<A>) => Effect.flatMap(readJson, (json) => decodeJson(schema, json))
