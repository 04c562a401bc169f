import { Effect, type Scope } from "effect"
import type { GatewayError } from "./errors.ts"
import { Gateway, type Permit } from "./gateway.ts"
import type { Principal } from "./principal.ts"

/**
 * Everything a /v1 model route does after authenticating and parsing its body, in order: the model is
 * allowed, the request is within the size guards, and the limits admit it. The tokens reserved are the
 * prompt's plus the most the completion may use (`maxCompletionTokens`: max_tokens, or what fits in the
 * context when absent); reconcile the permit with the actual usage when it is known.
 */
export const admitModelRequest: (
  principal: Principal,
  request: {
    readonly model: string
    readonly messages?: number | undefined
    readonly promptTokens: number
    readonly maxCompletionTokens: number
  }
) => Effect.Effect<Permit, GatewayError, Gateway | Scope.Scope> = Effect.fnUntraced(function*(principal, request) {
  const gateway = yield* Gateway
  yield* gateway.authorizeModel(principal, request.model)
  yield* gateway.checkRequest(principal, { messages: request.messages, promptTokens: request.promptTokens })
  return yield* gateway.admit(principal, { estimatedTokens: request.promptTokens + request.maxCompletionTokens })
})
