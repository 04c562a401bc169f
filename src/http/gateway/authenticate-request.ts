import { Effect } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { adminOnly, type GatewayError } from "../../gateway/errors.ts"
import { Gateway } from "../../gateway/gateway.ts"
import type { Principal } from "../../gateway/principal.ts"
import { requestCredentialHeaders } from "./request-credentials.ts"
import { orGatewayErrorResponse } from "./gateway-error-response.ts"

/**
 * Callers already authenticated, by request: the auth middleware authenticates every request and the
 * model routes ask again for the caller; the second time costs a map lookup, not a hash and a cache trip.
 */
const authenticatedRequests = new WeakMap<HttpServerRequest.HttpServerRequest, Principal>()

/** The caller of the current request (401 for a missing, malformed, unknown, expired or revoked key). */
export const authenticateRequest: Effect.Effect<Principal, GatewayError, Gateway | HttpServerRequest.HttpServerRequest> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const known = authenticatedRequests.get(request)
  if (known !== undefined) return known
  const gateway = yield* Gateway
  const principal = yield* gateway.authenticate(yield* requestCredentialHeaders)
  authenticatedRequests.set(request, principal)
  return principal
})

/** The master key (or auth off, which allows everything); 403 for an API key. */
export const requireMaster: Effect.Effect<Principal, GatewayError, Gateway | HttpServerRequest.HttpServerRequest> = Effect.flatMap(
  authenticateRequest,
  (principal) => (principal._tag === "Key" ? Effect.fail(adminOnly()) : Effect.succeed(principal))
)

/**
 * A route handler that runs only for an authenticated caller and gets its Principal; gateway refusals
 * become OpenAI-shaped responses. For /v1 model routes the model name is in the body, so they go on
 * with `gateway.authorizeModel`, `checkRequest` and `admit` themselves (see README, "Gateway").
 */
export const authenticated = <E, R>(handler: (principal: Principal) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  orGatewayErrorResponse(Effect.flatMap(authenticateRequest, handler))

/** The permit's x-ratelimit-* headers on a response (successful responses carry them too, as OpenAI's do). */
export const withRateLimitHeaders = (headers: Readonly<Record<string, string>>) => (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, headers)
