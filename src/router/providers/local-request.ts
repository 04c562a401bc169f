import type { Effect, Stream } from "effect"
import type { GenerateRequest } from "../../actors/engine.ts"
import type { PromptDelta } from "../../actors/engine-client.ts"
import type { UsageMeter } from "../../api/usage-meter.ts"

/**
 * A request validated and tokenized for the served model, with the endpoint's own way of turning
 * engine deltas into an OpenAI response (src/http/chat.ts, completions.ts). The endpoint supplies the
 * functions so the router does not import the endpoints that import it. Both read the request's usage
 * from `meter`, which the local provider feeds from the same deltas before they arrive here.
 */
export interface LocalRequest {
  /** One engine request per prompt. */
  readonly generates: ReadonlyArray<GenerateRequest>
  /** The whole response from the deltas. */
  readonly response: <E>(deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter) => Effect.Effect<unknown, E>
  /** The response's chunks from the deltas, as they come. */
  readonly chunks: <E>(deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter) => Stream.Stream<unknown, E>
}
