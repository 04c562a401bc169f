import { Effect } from "effect"
import { histogramFamily } from "../effect/metric-family.ts"

/**
 * The GenAI conventions' histograms, with the conventions' bucket boundaries. Recorded by the
 * RequestObserver in the request's fiber, so they land in the server's registry next to the inferline_*
 * metrics (and go out over OTLP when it is on). On /metrics their names keep no prefix, dots become
 * underscores and seconds get their unit suffix, as OpenTelemetry's Prometheus exporter names them.
 */

const timeToFirstToken = histogramFamily("gen_ai.server.time_to_first_token", {
  description: "Time to generate the first token of a successful response (s).",
  boundaries: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
})
const timePerOutputToken = histogramFamily("gen_ai.server.time_per_output_token", {
  description: "Time per output token after the first one, per request (s).",
  boundaries: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]
})
const requestDuration = histogramFamily("gen_ai.server.request.duration", {
  description: "Generative AI server request duration, such as time-to-last-byte (s).",
  boundaries: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
})
const tokenUsage = histogramFamily("gen_ai.client.token.usage", {
  description: "Input and output tokens used per request ({token}).",
  boundaries: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
})

/** Prometheus names of the histograms above (base names, before _bucket/_sum/_count). */
export const GEN_AI_PROMETHEUS_NAMES: Readonly<Record<string, string>> = {
  "gen_ai.server.time_to_first_token": "gen_ai_server_time_to_first_token_seconds",
  "gen_ai.server.time_per_output_token": "gen_ai_server_time_per_output_token_seconds",
  "gen_ai.server.request.duration": "gen_ai_server_request_duration_seconds",
  "gen_ai.client.token.usage": "gen_ai_client_token_usage"
}

export interface GenAiMeasurement {
  readonly attributes: Readonly<Record<string, string>>
  readonly durationSeconds: number
  readonly ttftSeconds: number | null
  readonly inputTokens: number
  readonly outputTokens: number
}

/** The request's GenAI histograms, updated in one step (the fiber's context holds the registry). */
export const recordGenAiMetrics = (m: GenAiMeasurement): Effect.Effect<void> =>
  Effect.contextWith((context) =>
    Effect.sync(() => {
      const attrs = m.attributes
      requestDuration(attrs).updateUnsafe(m.durationSeconds, context)
      if (m.ttftSeconds !== null) {
        timeToFirstToken(attrs).updateUnsafe(m.ttftSeconds, context)
        if (m.outputTokens > 1) timePerOutputToken(attrs).updateUnsafe((m.durationSeconds - m.ttftSeconds) / (m.outputTokens - 1), context)
      }
      tokenUsage(attrs, "gen_ai.token.type", "input").updateUnsafe(m.inputTokens, context)
      tokenUsage(attrs, "gen_ai.token.type", "output").updateUnsafe(m.outputTokens, context)
    })
  )
