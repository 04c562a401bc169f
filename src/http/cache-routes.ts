import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { ApiError } from "../api/api-error.ts"
import { ResponseCache } from "../cache/response-cache.ts"
import { errorResponse } from "./errors.ts"
import { requireMaster } from "./gateway/authenticate-request.ts"
import { orGatewayErrorResponse } from "./gateway/gateway-error-response.ts"

const cacheUnavailable = (what: string) =>
  new ApiError({ status: 503, type: "server_error", message: `The response cache could not be cleared (${what}); retry shortly.`, param: null, code: "cache_unavailable" })

/**
 * DELETE /cache (master key): clears the response cache, all of it or the entries of one key
 * (`?key=<key id>`), team (`?team=<team id>`) or model group (`?model=<group>`), combinable. Answers
 * `{"deleted": n}`.
 */
const clearCacheRoute = HttpRouter.add("DELETE", "/cache", orGatewayErrorResponse(Effect.andThen(requireMaster, Effect.gen(function*() {
  const q = new URL((yield* HttpServerRequest.HttpServerRequest).url, "http://x").searchParams
  const cache = yield* ResponseCache
  const deleted = yield* cache.clear({ keyId: q.get("key") ?? undefined, teamId: q.get("team") ?? undefined, group: q.get("model") ?? undefined }).pipe(
    Effect.mapError((e) => cacheUnavailable(e.operation))
  )
  return HttpServerResponse.jsonUnsafe({ object: "cache.clear", enabled: cache.settings !== undefined, deleted })
}))).pipe(Effect.catchTag("ApiError", (e) => Effect.succeed(errorResponse(e)))))

export const cacheRoutes = Layer.mergeAll(clearCacheRoute)
