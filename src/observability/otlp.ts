import { Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpSerialization } from "effect/observability"

/**
 * OTLP/HTTP (JSON) export with Effect's own exporter, configured the standard OpenTelemetry way:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (signals go to `/v1/traces`, `/v1/metrics`, `/v1/logs` below it),
 * `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`), per-signal `OTEL_EXPORTER_OTLP_<SIGNAL>_*` overrides and
 * `OTEL_<SIGNAL>_EXPORTER=none` to turn one off (Langfuse ingests traces only:
 * `OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none`). Without an endpoint nothing is exported.
 * Build it where the MetricRegistry the server records into is provided, so its metrics go out too.
 */
export const otlpLayerFromEnv = (serviceVersion: string) =>
  Otlp.layerFromConfig({ resource: { serviceName: process.env.OTEL_SERVICE_NAME ?? "inferline", serviceVersion } }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    Layer.provide(FetchHttpClient.layer)
  )
