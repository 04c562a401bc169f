import { Effect, Stream } from "effect"
import { Engine, type EngineError } from "../../actors/engine.ts"
import { generateAll, startStream } from "../../actors/engine-client.ts"
import { instrumentGeneration } from "../../observability/generation-metrics.ts"
import type { LocalRequest } from "./local-request.ts"
import { ProviderError, type Provider, type ProviderCall } from "./provider.ts"

/** The engine's refusal or failure as a routing failure (the HTTP edge turns it into 400, 503 or 500). */
export const engineFailure = (e: EngineError): ProviderError => {
  switch (e.reason) {
    case "invalid_request":
      return new ProviderError({ kind: "bad_request", message: e.message, deployment: "local" })
    case "overloaded":
      return new ProviderError({ kind: "overloaded", message: `The engine is overloaded: ${e.message}`, deployment: "local" })
    case "internal":
      return new ProviderError({ kind: "internal", message: `The engine failed while processing your request: ${e.message}`, deployment: "local" })
  }
}

/**
 * The served model: the engine's deltas, with per-sequence metrics, feed the request's usage meter and
 * become OpenAI chunks in chat.ts / completions.ts. Interrupting the stream aborts the engine sequences.
 */
const deltasOf = (call: ProviderCall, local: LocalRequest) =>
  Effect.map(Engine, (engine) => {
    const arrivalMs = performance.now()
    call.meter.setPrompt(local.generates.reduce((n, g) => n + g.promptTokenIds.length, 0))
    call.meter.responseModel = engine.info.modelName
    return generateAll(engine, local.generates, (request) => instrumentGeneration(engine.info.modelName, arrivalMs, request.params.n)).pipe(
      Stream.tap((d) => Effect.clockWith((clock) => Effect.sync(() => call.meter.addGenerated(d, clock.currentTimeMillisUnsafe())))),
      Stream.mapError(engineFailure)
    )
  })

export const localProvider: Provider = {
  name: "local",
  // Anthropic messages reach the served model translated to chat, never natively.
  serves: (kind) => kind !== "messages",
  // Generators made once, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const local = yield* call.local
    return { json: yield* local.response(yield* deltasOf(call, local), call.meter), text: undefined }
  }, Effect.scoped),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const local = yield* call.local
    // The engine's first delta comes before the response is committed (overloaded is a 503).
    const deltas = yield* startStream(yield* deltasOf(call, local))
    return local.chunks(deltas, call.meter).pipe(Stream.map((chunk) => JSON.stringify(chunk)))
  })
}
