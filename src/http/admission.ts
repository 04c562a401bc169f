import { Effect, Stream } from "effect"
import type { GenerateRequest } from "../actors/engine.ts"
import type { Permit } from "../gateway/gateway.ts"
import { admitModelRequest } from "../gateway/model-request.ts"
import type { Principal } from "../gateway/principal.ts"
import { authenticateRequest } from "./gateway/authenticate-request.ts"
import { fromGatewayError } from "./gateway/gateway-error-response.ts"
import type { ApiError } from "./errors.ts"
import type { PromptDelta } from "./generate.ts"

/** The caller of the current request, with gateway refusals as API errors. */
export const currentPrincipal = Effect.mapError(authenticateRequest, fromGatewayError)

/**
 * The gateway's say on a prepared model request: the key may use the model, the request is within the
 * key's guards, and the limits admit it. It reserves the prompts' tokens plus the most the completions may
 * use; `metered` reconciles with what was really used. The permit lives in the request's scope.
 */
export const admitGeneration = (principal: Principal, model: string, generates: ReadonlyArray<GenerateRequest>, messages?: number) =>
  admitModelRequest(principal, {
    model,
    messages,
    promptTokens: generates.reduce((n, g) => n + g.promptTokenIds.length, 0),
    maxCompletionTokens: generates.reduce((n, g) => n + g.params.maxTokens * g.params.n, 0)
  }).pipe(Effect.mapError(fromGatewayError))

/**
 * The deltas with the permit settled when they end, however they end (finished, failed, client gone):
 * the token reservation is reconciled with the prompt and completion tokens really used, and the
 * parallel-request slot is released at once rather than when the response's scope closes.
 */
export const metered = (permit: Permit, generates: ReadonlyArray<GenerateRequest>) =>
(deltas: Stream.Stream<PromptDelta, ApiError>): Stream.Stream<PromptDelta, ApiError> => {
  let used = generates.reduce((n, g) => n + g.promptTokenIds.length, 0)
  return deltas.pipe(
    Stream.tap((d) => Effect.sync(() => (used += d.tokenIds.length))),
    Stream.ensuring(Effect.suspend(() => permit.reconcile(used)).pipe(Effect.andThen(permit.release)))
  )
}
