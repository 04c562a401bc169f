import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { ledgerDisabledLayer } from "../../src/ledger/ledger.ts"
import { requestObserverLayer } from "../../src/observability/request-observer.ts"
import { observedServerLayer, postChat, serverUrl } from "./support/observed-server.ts"
import { eventually, otlpReceiver, otlpTestExporter, type ReceivedSpan } from "./support/otlp-receiver.ts"

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
const CALLER_SPAN_ID = "00f067aa0ba902b7"

/** The observed server exporting to the receiver, as `inferline serve` does with OTEL_EXPORTER_OTLP_ENDPOINT set. */
const tracedServer = (receiverUrl: string, captureContent: boolean) => {
  // One registry for the server's metrics and the OTLP exporter, as cli.ts wires them.
  const metricRegistry: Metric.MetricRegistry = new Map()
  return observedServerLayer({ metricRegistry }).pipe(
    Layer.provide(requestObserverLayer({ captureContent }).pipe(Layer.provide(ledgerDisabledLayer))),
    Layer.provide(otlpTestExporter(receiverUrl, metricRegistry))
  )
}

/** A chat request through the real path, continuing the caller's trace, with our request id. */
const chat = (url: string, requestId: string, body: Record<string, unknown>) =>
  postChat(url, body, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, "x-request-id": requestId })

const byName = (spans: ReadonlyArray<ReceivedSpan>, name: string) => spans.filter((s) => s.name === name)

describe("OTLP traces of a model request", () => {
  it.live("continue the caller's trace, nest the engine phases, carry the GenAI attributes, and no content", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const { spans, response } = yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(tracedServer(receiver.url, false))
        const url = yield* serverUrl.pipe(Effect.provide(ctx))
        const r = yield* chat(url, "req-trace-1", { model: "fake", max_tokens: 4, temperature: 0.5, messages: [{ role: "user", content: "SECRET PROMPT" }] })
        expect(r.status).toBe(200)
        yield* eventually(() => byName(receiver.spans, "engine.decode").length > 0 && byName(receiver.spans, "chat fake").length > 0)
        return { spans: receiver.spans, response: JSON.parse(r.text) }
      }))
      const request = byName(spans, "chat fake")
      expect(request).toHaveLength(1)
      const genai = request[0]
      // W3C traceparent continues the trace: the HTTP server span is the caller's child, ours is its child.
      expect(genai.traceId).toBe(TRACE_ID)
      const server = spans.find((s) => s.spanId === genai.parentSpanId)
      expect(server?.parentSpanId).toBe(CALLER_SPAN_ID)
      expect(genai.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "local",
        "gen_ai.request.model": "fake",
        "gen_ai.request.max_tokens": 4,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.stream": false,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": "fake",
        "gen_ai.response.finish_reasons": ["length"],
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens, // the response's usage, from the same meter
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "inferline.client_request_id": "req-trace-1"
      })
      // The request's own id is the server's (the ledger's key), the client's is only a correlation id.
      expect(genai.attributes["inferline.request_id"]).toMatch(/^req_[0-9a-f]{32}$/)
      expect(typeof genai.attributes["langfuse.observation.completion_start_time"]).toBe("string")
      for (const phase of ["engine.queue", "engine.prefill", "engine.decode"]) {
        const [child] = byName(spans, phase)
        // Under the routing attempt on the served model, itself a child of the request's span.
        const attempt = spans.find((s) => s.spanId === child?.parentSpanId)
        expect(attempt?.name, phase).toBe("router.attempt")
        expect(attempt?.attributes["inferline.deployment"]).toBe("local")
        expect(attempt?.parentSpanId, phase).toBe(genai.spanId)
        expect(child.traceId).toBe(TRACE_ID)
        expect(BigInt(child.startTimeUnixNano) >= BigInt(genai.startTimeUnixNano) - 1_000_000n).toBe(true)
      }
      // Content is opt-in: neither the prompt nor the output is anywhere in the export.
      expect(JSON.stringify(spans)).not.toContain("SECRET PROMPT")
      expect(genai.attributes["gen_ai.input.messages"]).toBeUndefined()
      expect(genai.attributes["gen_ai.output.messages"]).toBeUndefined()
      // The GenAI histograms go out over OTLP too.
      yield* eventually(() => receiver.metricNames.has("gen_ai.server.request.duration"))
      expect([...receiver.metricNames]).toEqual(expect.arrayContaining(["gen_ai.server.request.duration", "gen_ai.server.time_to_first_token", "gen_ai.client.token.usage"]))
    }))

  it.live("carry prompt and completion only with content capture on, and mark client aborts", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(tracedServer(receiver.url, true))
        const url = yield* serverUrl.pipe(Effect.provide(ctx))
        yield* chat(url, "req-content", { model: "fake", max_tokens: 2, messages: [{ role: "user", content: "OPTED IN PROMPT" }] })
        // A streaming request the client abandons after the first bytes.
        yield* Effect.promise(async () => {
          const controller = new AbortController()
          const r = await fetch(`${url}/v1/chat/completions`, {
            method: "POST", signal: controller.signal, headers: { "content-type": "application/json", "x-request-id": "req-abort" },
            body: JSON.stringify({ model: "fake", messages: [{ role: "user", content: "Go on" }], max_tokens: 2000, stream: true })
          })
          const reader = r.body!.getReader()
          await reader.read()
          controller.abort()
        }).pipe(Effect.ignore)
        yield* eventually(() => receiver.spans.filter((s) => s.name === "chat fake").length >= 2)
      }))
      const content = receiver.spans.find((s) => s.attributes["inferline.client_request_id"] === "req-content")!
      expect(content.attributes["gen_ai.input.messages"]).toContain("OPTED IN PROMPT")
      expect(String(content.attributes["gen_ai.output.messages"])).toContain("assistant")
      const aborted = receiver.spans.find((s) => s.attributes["inferline.client_request_id"] === "req-abort")!
      expect(aborted.attributes["error.type"]).toBe("aborted")
      expect(aborted.attributes["gen_ai.request.stream"]).toBe(true)
      expect(aborted.status?.code).toBe(2) // ERROR
    }))
})
