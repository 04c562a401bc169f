import { Effect } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { Gateway } from "../gateway/gateway.ts"
import { authenticateRequest } from "./gateway/authenticate-request.ts"
import { gatewayErrorResponse } from "./gateway/gateway-error-response.ts"
import { anthropicErrorResponse, isAnthropicPath } from "./anthropic/anthropic-errors.ts"
import { fromGatewayError } from "./error-mapping.ts"

/** Paths anyone may load: the health checks, the API docs (the page and the document, no data), and the
 * dashboard's page and chart script (the page asks for the master key and sends it to /ui/data). */
const PUBLIC_PATHS = new Set(["/health", "/health/liveness", "/health/readiness", "/docs", "/openapi.json", "/ui", "/ui/chart.umd.min.js"])

/**
 * With keys on, every route needs a valid key except the public paths (and `/metrics` when configured public):
 * checked here, once, before any handler runs, so a route added later cannot forget it. Model routes
 * authenticate again to learn the caller (a cached lookup); admin routes also require the master key.
 */
export const authMiddleware = (options: { readonly publicMetrics: boolean }) =>
  HttpRouter.middleware((app) => {
    // Refusals because the key store is down are not about the key: the outage refuses every request
    // alike, so those are logged once per interval (thousands a second otherwise).
    const outageLog = rateLimitedLog()
    return Effect.gen(function*() {
      const gateway = yield* Gateway
      if (!gateway.authEnabled) return yield* app
      const path = (yield* HttpServerRequest.HttpServerRequest).url.split("?")[0]
      if (PUBLIC_PATHS.has(path) || (options.publicMetrics && path === "/metrics")) return yield* app
      const principal = yield* Effect.result(authenticateRequest)
      if (principal._tag === "Failure") {
        // A refused key is a security event: logged whatever the request log says (never the key).
        const message = `auth: refused ${path}: ${principal.failure.code} (${principal.failure.message})`
        yield* principal.failure.reason === "unavailable" ? outageLog("unavailable", "Warning", message) : Effect.logWarning(message)
        // Anthropic clients read Anthropic's error shape.
        return isAnthropicPath(path) ? anthropicErrorResponse(fromGatewayError(principal.failure)) : gatewayErrorResponse(principal.failure)
      }
      return yield* app
    })
  }, { global: true })
