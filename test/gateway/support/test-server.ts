import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import type { Gateway } from "../../../src/gateway/gateway.ts"
import type { GatewayAdmin } from "../../../src/gateway/gateway-admin.ts"
import { admitModelRequest } from "../../../src/gateway/model-request.ts"
import { readJsonBody } from "../../../src/http/body.ts"
import { adminRoutes } from "../../../src/http/gateway/admin-routes.ts"
import { authenticated, withRateLimitHeaders } from "../../../src/http/gateway/authenticate-request.ts"
import { requestIdMiddleware } from "../../../src/http/gateway/request-id.ts"
import { errorResponse } from "../../../src/http/errors.ts"

/** Tokens the fake completion "uses"; tests compare rate-limit headers against it. */
export const FAKE_USAGE_TOKENS = 7

const CompletionBody = Schema.Struct({
  model: Schema.String,
  messages: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  max_tokens: Schema.optionalKey(Schema.Int),
  /** How long the fake completion takes (to hold parallel slots). */
  delay_ms: Schema.optionalKey(Schema.Int)
})

/**
 * A stand-in for a /v1 model route, following the documented pattern: authenticate, authorize the model
 * named in the body, check sizes, admit (in the request's scope), answer with the permit's headers,
 * reconcile the actual usage.
 */
export const protectedRoute = HttpRouter.add("POST", "/v1/test/completions", authenticated((principal) =>
  Effect.gen(function*() {
    const body = yield* readJsonBody(CompletionBody)
    const permit = yield* admitModelRequest(principal, {
      model: body.model,
      messages: body.messages?.length,
      promptTokens: (body.messages?.length ?? 0) * 5,
      maxCompletionTokens: body.max_tokens ?? 16
    })
    if (body.delay_ms !== undefined) yield* Effect.sleep(body.delay_ms)
    yield* permit.settle(FAKE_USAGE_TOKENS)
    return HttpServerResponse.jsonUnsafe({ ok: true, principal: principal._tag }).pipe(withRateLimitHeaders(permit.headers))
  }).pipe(Effect.catchTag("ApiError", (e) => Effect.succeed(errorResponse(e))))
))

export const healthRoute = HttpRouter.add("GET", "/health", HttpServerResponse.empty({ status: 200 }))

/**
 * An HTTP server on 127.0.0.1 and a free port with the admin API, the protected route, /health and
 * request ids, over the given gateway; it stops when the scope closes. Returns its base URL.
 */
export const serveGateway = (gateway: Layer.Layer<Gateway | GatewayAdmin>, options: { readonly logRequests?: boolean } = {}) =>
  Effect.gen(function*() {
    const app = HttpRouter.serve(Layer.mergeAll(adminRoutes, protectedRoute, healthRoute, requestIdMiddleware), {
      disableLogger: options.logRequests !== true,
      disableListenLog: true
    })
    const context = yield* Layer.build(app.pipe(Layer.provide(gateway), Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 }))))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
    return { url: `http://127.0.0.1:${address.port}` }
  })
