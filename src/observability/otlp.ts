import { ConfigProvider, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpSerialization } from "effect/observability"

/** The signals OTLP exports; each is on unless OTEL_<SIGNAL>_EXPORTER says otherwise. */
const SIGNALS = ["TRACES", "METRICS", "LOGS"] as const

/**
 * The environment as OpenTelemetry reads it: an unset OTEL_<SIGNAL>_EXPORTER means `otlp` (the SDKs'
 * default), so OTEL_EXPORTER_OTLP_ENDPOINT alone turns export on. Effect's layerFromConfig exports a
 * signal only when its exporter variable names otlp.
 */
export const otlpEnvironment = (env: Record<string, string | undefined>): Record<string, string | undefined> => {
  const resolved = { ...env }
  for (const signal of SIGNALS) {
    const name = `OTEL_${signal}_EXPORTER`
    if ((resolved[name] ?? "").trim() === "") resolved[name] = "otlp"
  }
  return resolved
}

/**
 * OTLP/HTTP (JSON) export with Effect's own exporter, configured the standard OpenTelemetry way:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (signals go to `/v1/traces`, `/v1/metrics`, `/v1/logs` below it),
 * `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`), per-signal `OTEL_EXPORTER_OTLP_<SIGNAL>_*` overrides and
 * `OTEL_<SIGNAL>_EXPORTER=none` to turn one off (Langfuse ingests traces only:
 * `OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none`). Without an endpoint nothing is exported.
 * Build it where the MetricRegistry the server records into is provided, so its metrics go out too.
 */
export const otlpLayerFromEnv = (serviceVersion: string, env: Record<string, string | undefined> = process.env) =>
  Otlp.layerFromConfig({ resource: { serviceName: env.OTEL_SERVICE_NAME ?? "inferline", serviceVersion } }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(otlpEnvironment(env))))
  )
