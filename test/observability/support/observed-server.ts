import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Metric, Schema, Stream } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Engine } from "../../../src/actors/engine.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import { gatewayTestLayer } from "../../../src/gateway/layers.ts"
import { authOff } from "../../../src/gateway/principal.ts"
import { readJsonBody } from "../../../src/http/body.ts"
import { orErrorResponse } from "../../../src/http/errors.ts"
import { RequestId, requestIdMiddleware } from "../../../src/http/gateway/request-id.ts"
import { generateAll } from "../../../src/http/generate.ts"
import { metricsRoute } from "../../../src/http/metrics.ts"
import { spendRoutes } from "../../../src/http/spend.ts"
import { uiRoutes } from "../../../src/http/ui.ts"
import { RequestObserver } from "../../../src/observability/request-observer.ts"
import { fakeEngineLayer, type FakeEngineOptions } from "../../../src/layers/fake-engine.ts"

const TestChatBody = Schema.Struct({
  model: Schema.String,
  prompt_token_ids: Schema.Array(Schema.Int),
  max_tokens: Schema.optionalKey(Schema.Int),
  temperature: Schema.optionalKey(Schema.Number),
  stream: Schema.optionalKey(Schema.Boolean),
  messages: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  tags: Schema.optionalKey(Schema.Array(Schema.String))
})

/**
 * A copy of a /v1 handler's shape with the RequestObserver calls the lead adds to chat.ts and
 * completions.ts (marked ►): start after validation, `track` + `onExit` on the deltas. The prompt comes
 * as token ids (the fake engine has no tokenizer); the answer is the number of tokens generated.
 */
export const observedChatRoute = HttpRouter.add("POST", "/v1/test/chat", orErrorResponse(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const body = yield* readJsonBody(TestChatBody)
  const engine = yield* Engine
  const observer = yield* RequestObserver // ►
  const obs = yield* observer.start({ // ►
    requestId: yield* RequestId,
    operation: "chat",
    modelGroup: body.model,
    params: body,
    principal: authOff,
    tags: body.tags,
    traceparent: request.headers.traceparent,
    input: body.messages
  })
  yield* obs.update({ deployment: "local", provider: "inferline", responseId: `chatcmpl-${obs.requestId}`, responseModel: engine.info.modelName }) // ►
  const generate = { promptTokenIds: body.prompt_token_ids, params: defaultSamplingParams({ maxTokens: body.max_tokens ?? 8 }) }
  const deltas = generateAll(engine, [generate]).pipe(obs.track, Stream.onExit(obs.onExit)) // ►
  if (body.stream === true) {
    return HttpServerResponse.stream(deltas.pipe(Stream.map((d) => `${d.tokenIds.length}\n`), Stream.encodeText), { contentType: "text/plain" })
  }
  const tokens = yield* Stream.runFold(deltas, () => 0, (n, d) => n + d.tokenIds.length)
  return HttpServerResponse.jsonUnsafe({ id: `chatcmpl-${obs.requestId}`, tokens })
})))

/**
 * A server with the observed test route, /metrics, /spend and /ui, on the fake engine with auth off.
 * `observability` provides the RequestObserver (and whatever else, e.g. a tracer, the routes should see).
 */
export const observedServerLayer = (options: { readonly port?: number; readonly engine?: FakeEngineOptions; readonly metricRegistry?: Metric.MetricRegistry } = {}) =>
  HttpRouter.serve(Layer.mergeAll(observedChatRoute, metricsRoute, spendRoutes, uiRoutes, requestIdMiddleware), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: options.port ?? 0 })),
    Layer.provide(fakeEngineLayer({ stepDelay: "1 millis", ...options.engine })),
    Layer.provide(gatewayTestLayer()),
    Layer.provide(Layer.sync(Metric.MetricRegistry, () => options.metricRegistry ?? new Map()))
  )

export const serverUrl = Effect.map(HttpServer.HttpServer, (s) => `http://127.0.0.1:${(s.address as unknown as AddressInfo).port}`)
