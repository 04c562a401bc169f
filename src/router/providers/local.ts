import { Effect, Stream } from "effect"
import { Engine } from "../../actors/engine.ts"
import { generateAll, startStream, type PromptDelta } from "../../http/generate.ts"
import type { LocalRequest } from "./local-request.ts"
import { fromApiError, type Provider, type ProviderCall } from "./provider.ts"

/**
 * The served model, through the same code as before the router: the engine's deltas become OpenAI
 * chunks in chat.ts / completions.ts. Interrupting the stream aborts the engine sequences.
 */
const deltasOf = (call: ProviderCall, local: LocalRequest) =>
  Effect.map(Engine, (engine) => {
    call.meter.setPrompt(local.generates.reduce((n, g) => n + g.promptTokenIds.length, 0))
    return generateAll(engine, local.generates).pipe(
      Stream.tap((d: PromptDelta) => Effect.sync(() => {
        call.meter.addCompletion(d.tokenIds.length)
        call.meter.addFinishReason(d.finishReason)
      }))
    )
  })

export const localProvider: Provider = {
  name: "local",
  // Generators made once, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const local = yield* call.local
    return { json: yield* local.response(yield* deltasOf(call, local)), text: undefined }
  }, Effect.scoped, Effect.mapError(fromApiError)),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const local = yield* call.local
    // The engine's first delta comes before the response is committed (overloaded is a 503).
    const deltas = yield* startStream(yield* deltasOf(call, local))
    return local.chunks(deltas).pipe(Stream.map((chunk) => JSON.stringify(chunk)), Stream.mapError(fromApiError))
  }, Effect.mapError(fromApiError))
}
