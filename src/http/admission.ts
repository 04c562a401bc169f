import { Effect } from "effect"
import type { Permit } from "../gateway/gateway.ts"
import { admitModelRequest } from "../gateway/model-request.ts"
import type { Principal } from "../gateway/principal.ts"
import { authenticateRequest } from "./gateway/authenticate-request.ts"
import { fromGatewayError } from "./error-mapping.ts"

/** The caller of the current request, with gateway refusals as API errors. */
export const currentPrincipal = Effect.mapError(authenticateRequest, fromGatewayError)

/**
 * The gateway's say on a model request: the key may use the model (group), the request is within the
 * key's guards, and the limits admit it. It reserves the prompt's tokens plus the most the completion may
 * use: exact counts when the served model tokenized the request, an estimate for remote deployments
 * (see src/router/estimate-tokens.ts). `settleOnce` reconciles with what was really used. The permit
 * lives in the request's scope.
 */
export const admitTokens = (principal: Principal, model: string, tokens: { readonly promptTokens: number; readonly maxCompletionTokens: number; readonly messages?: number | undefined }) =>
  admitModelRequest(principal, { model, ...tokens }).pipe(Effect.mapError(fromGatewayError))

/**
 * Settles a permit once, whichever of stream end, failure or interruption comes first: the token
 * reservation is reconciled with `usedTokens()` (prompt + completion really used) and the parallel slot
 * is released at once rather than when the response's scope closes (a client quick to send its next
 * request would otherwise find it taken).
 */
export const settleOnce = (permit: Permit, usedTokens: () => number): Effect.Effect<void> => {
  let settled = false
  return Effect.suspend(() => {
    if (settled) return Effect.void
    settled = true
    return permit.settle(usedTokens())
  })
}
