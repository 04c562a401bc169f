import type { Effect, Stream } from "effect"
import type { GenerateRequest } from "../../actors/engine.ts"
import type { ApiError } from "../../http/errors.ts"
import type { PromptDelta } from "../../http/generate.ts"

/**
 * A request validated and tokenized for the served model, with the endpoint's own way of turning
 * engine deltas into an OpenAI response (chat.ts, completions.ts). The endpoint supplies the functions
 * so the router does not import the endpoints that import it.
 */
export interface LocalRequest {
  /** One engine request per prompt. */
  readonly generates: ReadonlyArray<GenerateRequest>
  /** The whole response from the deltas. */
  readonly response: (deltas: Stream.Stream<PromptDelta, ApiError>) => Effect.Effect<unknown, ApiError>
  /** The response's chunks from the deltas, as they come. */
  readonly chunks: (deltas: Stream.Stream<PromptDelta, ApiError>) => Stream.Stream<unknown, ApiError>
}
