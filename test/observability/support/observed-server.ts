import { Effect, Layer, Metric } from "effect"
import { HttpServer } from "effect/http"
import type { AddressInfo } from "node:net"
import { TextTokenizer } from "../../../src/engine/tokenizer.ts"
import { gatewayTestLayer } from "../../../src/gateway/layers.ts"
import { httpServerLayer } from "../../../src/http/server.ts"
import { fakeEngineLayer, type FakeEngineOptions } from "../../../src/layers/fake-engine.ts"
import { routerLayer } from "../../../src/router/layer.ts"
import { bundledModelDir } from "../../support/models.ts"

/**
 * The real server and request path (auth off, router, the observer the test provides) over the fake
 * engine (real scheduler and KV manager, a fake model) with the bundled tokenizer, so chat requests go
 * through the same code as `inferline serve`'s. `observability` provides the RequestObserver (and
 * whatever else, e.g. a tracer or the ledger, the routes should see).
 */
export const observedServerLayer = (options: { readonly port?: number; readonly engine?: FakeEngineOptions; readonly metricRegistry?: Metric.MetricRegistry } = {}) =>
  httpServerLayer({ host: "127.0.0.1", port: options.port ?? 0, metricRegistry: options.metricRegistry }).pipe(
    Layer.provideMerge(routerLayer()),
    Layer.provideMerge(fakeEngineLayer({ vocabSize: 4096, tokenizer: TextTokenizer.fromDir(bundledModelDir), stepDelay: "1 millis", ...options.engine })),
    Layer.provideMerge(gatewayTestLayer())
  )

export const serverUrl = Effect.map(HttpServer.HttpServer, (s) => `http://127.0.0.1:${(s.address as unknown as AddressInfo).port}`)

/** POSTs a chat request to the observed server; `headers` go with it (traceparent, x-request-id). */
export const postChat = (url: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })
      .then(async (r) => ({ status: r.status, text: await r.text() }))
  )
