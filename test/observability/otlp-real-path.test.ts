import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { HttpServer } from "effect/http"
import { gatewayTestLayer } from "../../src/gateway/layers.ts"
import { httpServerLayer } from "../../src/http/server.ts"
import { TextTokenizer } from "../../src/engine/tokenizer.ts"
import { fakeEngineLayer } from "../../src/layers/fake-engine.ts"
import { ledgerDisabledLayer } from "../../src/ledger/ledger.ts"
import { requestObserverLayer } from "../../src/observability/request-observer.ts"
import { parseRouterConfig } from "../../src/router/config.ts"
import { routerLayer } from "../../src/router/layer.ts"
import { startFakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { bundledModelDir } from "../support/models.ts"
import { openAiDeployment } from "../router/support/router-server.ts"
import { eventually, otlpReceiver, otlpTestExporter, type ReceivedSpan } from "./support/otlp-receiver.ts"

// The real request path (auth, router, local engine or upstream, observer) exporting over OTLP/HTTP to an
// in-process receiver: one GenAI span per request with the caller's trace continued, rate limiting,
// routing attempts and engine phases as its children, usage attributes, and no content unless opted in.
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
const CALLER_SPAN_ID = "b7ad6b7169203331"

const server = (receiverUrl: string, upstreamUrl: string) => {
  const metricRegistry: Metric.MetricRegistry = new Map()
  const router = parseRouterConfig({ model_list: [openAiDeployment("remote", "up", upstreamUrl)] }, { UPSTREAM_KEY: "k" })
  return httpServerLayer({ host: "127.0.0.1", port: 0, metricRegistry }).pipe(
    Layer.provideMerge(routerLayer(router)),
    Layer.provideMerge(fakeEngineLayer({ vocabSize: 4096, tokenizer: TextTokenizer.fromDir(bundledModelDir), stepDelay: "1 millis" })),
    Layer.provideMerge(gatewayTestLayer()),
    Layer.provide(requestObserverLayer({ captureContent: false }).pipe(Layer.provide(ledgerDisabledLayer))),
    Layer.provide(otlpTestExporter(receiverUrl, metricRegistry, "1 hour"))
  )
}

const post = (url: string, body: unknown) =>
  Effect.promise(() => fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` },
    body: JSON.stringify(body)
  }).then(async (r) => ({ status: r.status, json: (await r.json()) as any })))

const named = (spans: ReadonlyArray<ReceivedSpan>, name: string) => spans.filter((s) => s.name === name)

describe("OTLP traces through the real request path", () => {
  it.live("local engine and a fake upstream: span names, parent/child structure, GenAI attributes, no content", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const upstream = yield* Effect.acquireRelease(Effect.promise(() => startFakeUpstream([{ type: "json", content: "UPSTREAM ANSWER", usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } }])), (u) => Effect.promise(() => u.close()))
      const spans = yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(server(receiver.url, upstream.url))
        const httpServer = yield* Effect.provide(Effect.service(HttpServer.HttpServer), ctx)
        const url = `http://127.0.0.1:${(httpServer.address as { port: number }).port}`
        const local = yield* post(url, { model: "fake", messages: [{ role: "user", content: "SECRET PROMPT" }], max_tokens: 4, temperature: 0.5 })
        expect(local.status).toBe(200)
        const remote = yield* post(url, { model: "remote", messages: [{ role: "user", content: "SECRET PROMPT" }] })
        expect(remote.status).toBe(200)
        yield* eventually(() => named(receiver.spans, "chat fake").length > 0 && named(receiver.spans, "chat remote").length > 0 && named(receiver.spans, "engine.decode").length > 0)
        return receiver.spans
      }))
      const [localSpan] = named(spans, "chat fake")
      const [remoteSpan] = named(spans, "chat remote")
      for (const span of [localSpan, remoteSpan]) {
        expect(span.traceId).toBe(TRACE_ID)
        expect(spans.find((s) => s.spanId === span.parentSpanId)?.parentSpanId).toBe(CALLER_SPAN_ID) // caller -> HTTP span -> GenAI span
        expect(span.attributes["gen_ai.operation.name"]).toBe("chat")
      }
      expect(localSpan.attributes).toMatchObject({
        "gen_ai.request.model": "fake", "gen_ai.request.max_tokens": 4, "gen_ai.request.temperature": 0.5,
        "gen_ai.usage.output_tokens": 4, "gen_ai.response.finish_reasons": ["length"]
      })
      expect(remoteSpan.attributes).toMatchObject({ "gen_ai.request.model": "remote", "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 3 })
      // The routing attempt and the engine phases hang under the request's span (same trace).
      const within = (child: ReceivedSpan, ancestor: ReceivedSpan): boolean => {
        for (let s: ReceivedSpan | undefined = child; s !== undefined; s = spans.find((p) => p.spanId === s!.parentSpanId)) if (s.spanId === ancestor.spanId) return true
        return false
      }
      for (const phase of ["engine.queue", "engine.prefill", "engine.decode"]) expect(within(named(spans, phase)[0], localSpan), phase).toBe(true)
      // Rate limits (and budget) under the request's span; authentication, which runs before the model
      // group is known, under the same HTTP request span as the request's span.
      for (const span of [localSpan, remoteSpan]) {
        expect(named(spans, "gateway.rate_limit").some((s) => s.parentSpanId === span.spanId)).toBe(true)
        expect(named(spans, "gateway.authenticate").some((s) => s.parentSpanId === span.parentSpanId)).toBe(true)
      }
      const attempts = named(spans, "router.attempt")
      expect(attempts.some((a) => a.attributes["inferline.deployment"] === "up" && within(a, remoteSpan))).toBe(true)
      // Content is opt-in.
      const exported = JSON.stringify(spans)
      expect(exported).not.toContain("SECRET PROMPT")
      expect(exported).not.toContain("UPSTREAM ANSWER")
    }))
})
