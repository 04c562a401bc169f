import { type Duration, Effect, Layer, Metric } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: number
  readonly startTimeUnixNano: string
  readonly endTimeUnixNano: string
  readonly attributes: Record<string, unknown>
  readonly status: { readonly code?: number } | undefined
}

/** OTLP's AnyValue as a plain value. */
const plain = (v: Record<string, any>): unknown =>
  "stringValue" in v ? v.stringValue
  : "intValue" in v ? Number(v.intValue)
  : "doubleValue" in v ? v.doubleValue
  : "boolValue" in v ? v.boolValue
  : "arrayValue" in v ? (v.arrayValue.values ?? []).map(plain)
  : undefined

/**
 * An OTLP/HTTP JSON receiver on 127.0.0.1 (an ephemeral port): spans POSTed to /v1/traces are decoded
 * and kept; metric names POSTed to /v1/metrics are kept too. Closed with the scope.
 */
export const otlpReceiver = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ readonly url: string; readonly spans: Array<ReceivedSpan>; readonly metricNames: Set<string>; readonly server: http.Server }>((resolve) => {
      const spans: Array<ReceivedSpan> = []
      const metricNames = new Set<string>()
      const server = http.createServer((req, res) => {
        let body = ""
        req.setEncoding("utf8")
        req.on("data", (c) => (body += c))
        req.on("end", () => {
          const json = body === "" ? {} : JSON.parse(body)
          if (req.url === "/v1/traces") {
            for (const rs of json.resourceSpans ?? []) {
              for (const ss of rs.scopeSpans ?? []) {
                for (const s of ss.spans ?? []) {
                  spans.push({
                    ...s,
                    parentSpanId: s.parentSpanId === "" ? undefined : s.parentSpanId,
                    attributes: Object.fromEntries((s.attributes ?? []).map((a: any) => [a.key, plain(a.value)]))
                  })
                }
              }
            }
          } else if (req.url === "/v1/metrics") {
            for (const rm of json.resourceMetrics ?? []) for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) metricNames.add(m.name)
          }
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, metricNames, server }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
)

/** Polls until `check` holds (exports are batched), up to ~5 s. */
export const eventually = (check: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  })

/**
 * Effect's OTLP/JSON exporter pointed at a receiver, flushing traces every 50 ms, reading metrics from
 * `metricRegistry` (the one the server records into, as cli.ts wires it).
 */
export const otlpTestExporter = (receiverUrl: string, metricRegistry: Metric.MetricRegistry, metricsExportInterval: Duration.Input = "100 millis") =>
  Otlp.layerJson({
    baseUrl: receiverUrl,
    resource: { serviceName: "inferline-test" },
    tracerExportInterval: "50 millis",
    metricsExportInterval,
    loggerExportInterval: "1 hour"
  }).pipe(Layer.provide(FetchHttpClient.layer), Layer.provide(Layer.succeed(Metric.MetricRegistry, metricRegistry)))
