import { Effect } from "effect"
import { HttpEffect, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

/** Response headers a browser script may read (the SDKs read the rate-limit and retry ones). */
const EXPOSED = [
  "x-request-id", "x-inferline-request-id", "x-inferline-deployment", "x-inferline-attempts", "x-inferline-cache",
  "retry-after", "retry-after-ms", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"
].join(", ")

/** How long a browser may cache a preflight answer (seconds). */
const PREFLIGHT_MAX_AGE = "600"

/**
 * CORS for browser clients, off unless `cors_allow_origins` names origins (or `*`). An allowed
 * origin's requests get Access-Control-Allow-Origin (the origin itself, with Vary: Origin) on every
 * answer, refusals included, so the page can read the error; its preflight (OPTIONS with
 * Access-Control-Request-Method) is answered here, before authentication, since browsers send no
 * credentials with it. Other origins get no CORS headers: the browser keeps the answer from the page.
 */
export const corsMiddleware = (allowOrigins: ReadonlyArray<string>) => {
  const any = allowOrigins.includes("*")
  const allowed = new Set(allowOrigins)
  return HttpRouter.middleware((app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const origin = request.headers.origin
      if (origin === undefined || !(any || allowed.has(origin))) return yield* app
      const headers = { "access-control-allow-origin": any ? "*" : origin, vary: "Origin" }
      if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
        return HttpServerResponse.empty({
          status: 204,
          headers: {
            ...headers,
            "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
            "access-control-allow-headers": request.headers["access-control-request-headers"] ?? "authorization, content-type, x-api-key",
            "access-control-max-age": PREFLIGHT_MAX_AGE
          }
        })
      }
      yield* HttpEffect.appendPreResponseHandler((_, response) =>
        Effect.succeed(HttpServerResponse.setHeaders(response, { ...headers, "access-control-expose-headers": EXPOSED }))
      )
      return yield* app
    }), { global: true })
}
