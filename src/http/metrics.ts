import { Cause, Clock, Effect, Exit, Layer, Metric, Option, Stream } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Engine, EngineError, type EngineDelta } from "../actors/engine.ts"
import type { FinishReason } from "../engine/engine-core.ts"
import { GEN_AI_PROMETHEUS_NAMES } from "../observability/genai-metrics.ts"
import { counterFamily, histogramFamily } from "../observability/metric-family.ts"
import { onStreamExit } from "../effect/stream-pull.ts"
import type { DeploymentState } from "../router/deployment-state.ts"
import { Router, type RouterService } from "../router/router.ts"

/**
 * Prometheus metrics with vLLM's names under the prefix `inferline_`. Gauges and counters the engine
 * already keeps (running, waiting, KV usage, prefix cache, preemptions, token totals) are read from
 * `Engine.stats` at scrape time; per-request latencies and finish reasons are recorded here, in the
 * HTTP layer, as Effect metrics (one registry per server, see server.ts).
 */

export const METRIC_PREFIX = "inferline"

// vLLM's bucket boundaries, so dashboards built for vLLM read the same.
const timeToFirstToken = histogramFamily("time_to_first_token_seconds", {
  description: "Time from request arrival to the first generated token, per sequence.",
  boundaries: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]
})
const interTokenLatency = histogramFamily("inter_token_latency_seconds", {
  description: "Time between consecutive tokens of a sequence.",
  boundaries: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
})
const e2eLatency = histogramFamily("e2e_request_latency_seconds", {
  description: "Time from request arrival to the end of a sequence (finished or aborted).",
  boundaries: [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
})
const requestSuccess = counterFamily("request_success_total", {
  description: "Finished sequences by finish reason (abort: the client went away or the request failed)."
})

const FINISH_REASONS: ReadonlyArray<FinishReason> = ["stop", "length", "abort"]

const countFinished = (modelName: string, reason: FinishReason) =>
  Metric.update(requestSuccess({ model_name: modelName, finished_reason: reason }), 1)

/** The engine refused the request (overloaded, invalid): it never ran, so it is not an aborted request. */
const wasRefused = <E>(cause: Cause.Cause<E>): boolean => {
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) && error.value instanceof EngineError && error.value.reason !== "internal"
}

/**
 * Records TTFT, inter-token latency, end-to-end latency and the finish reason of each of the request's
 * `n` sequences as the stream passes by. Sequences that have not finished when the stream ends early
 * (client disconnect, error) count as aborted.
 */
export const instrumentGeneration = (modelName: string, arrivalMs: number, n: number) =>
<E>(deltas: Stream.Stream<EngineDelta, E>): Stream.Stream<EngineDelta, E> =>
  Stream.suspend(() => {
    const lastTokenAt = new Map<number, number>()
    const finished = new Set<number>()
    const model = { model_name: modelName }
    const ttft = timeToFirstToken(model)
    const itl = interTokenLatency(model)
    const e2e = e2eLatency(model)
    const record = (d: EngineDelta) =>
      Effect.suspend(() => {
        const now = performance.now()
        const effects: Array<Effect.Effect<void>> = []
        if (d.tokenIds.length > 0) {
          const last = lastTokenAt.get(d.index)
          effects.push(last === undefined ? Metric.update(ttft, (now - arrivalMs) / 1000) : Metric.update(itl, (now - last) / 1000))
          lastTokenAt.set(d.index, now)
        }
        if (d.finishReason !== null && !finished.has(d.index)) {
          finished.add(d.index)
          effects.push(Metric.update(e2e, (now - arrivalMs) / 1000), countFinished(modelName, d.finishReason))
        }
        return Effect.all(effects, { discard: true })
      })
    const recordAborted = Effect.suspend(() => {
      const seconds = (performance.now() - arrivalMs) / 1000
      const effects: Array<Effect.Effect<void>> = []
      for (let i = 0; i < n; i++) {
        if (!finished.has(i)) effects.push(Metric.update(e2e, seconds), countFinished(modelName, "abort"))
      }
      return Effect.all(effects, { discard: true })
    })
    return deltas.pipe(
      Stream.tap(record),
      onStreamExit((exit) => (Exit.isSuccess(exit) || wasRefused(exit.cause) ? Effect.void : recordAborted))
    )
  })

/**
 * Exposition names: ours under `inferline_`, the GenAI conventions' histograms under their own names
 * (dots become underscores, seconds get `_seconds`), as OpenTelemetry's Prometheus exporter names them.
 */
const prometheusName = (id: string): string => GEN_AI_PROMETHEUS_NAMES[id] ?? `${METRIC_PREFIX}_${id}`

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const DEPLOYMENT_STATE = { closed: 0, "half-open": 1, open: 2 } as const

/**
 * The router's deployments as LiteLLM's proxy exports them (litellm_deployment_state and friends), read
 * at scrape time: state 0 healthy, 1 half-open (one probe allowed), 2 in cooldown.
 */
const deploymentLines = (router: RouterService, now: number): Array<string> => {
  const deployments = router.deployments()
  if (deployments.length === 0) return []
  const family = (name: string, type: "gauge" | "counter", help: string, value: (d: DeploymentState) => number | null) => {
    const full = `${METRIC_PREFIX}_${name}`
    const samples = deployments.flatMap((d) => {
      const v = value(d)
      return v === null ? [] : [`${full}{deployment="${escapeLabel(d.config.id)}",model_group="${escapeLabel(d.config.group)}",provider="${d.config.provider}"} ${v}`]
    })
    return samples.length === 0 ? [] : [`# HELP ${full} ${help}`, `# TYPE ${full} ${type}`, ...samples]
  }
  return [
    ...family("deployment_state", "gauge", "Router deployment health: 0 healthy, 1 half-open (probing), 2 in cooldown.", (d) => DEPLOYMENT_STATE[d.breaker.state(now)]),
    ...family("deployment_cooldowns_total", "counter", "Times a deployment entered cooldown (failed probes included).", (d) => d.breaker.cooldowns),
    ...family("deployment_requests_in_flight", "gauge", "Requests a deployment is serving now.", (d) => d.inFlight),
    ...family("deployment_latency_seconds", "gauge", "EWMA latency the router ranks by (time to first token for streams, total otherwise).", (d) => (d.latencyMs === null ? null : d.latencyMs / 1000))
  ]
}

/** The whole exposition: engine gauges and counters, then the HTTP layer's histograms and counters. */
export const renderMetrics = Effect.gen(function*() {
  const engine = yield* Engine
  const s = yield* engine.stats
  const labels = `{model_name="${escapeLabel(engine.info.modelName)}"}`
  const lines: Array<string> = []
  const add = (name: string, type: "gauge" | "counter", help: string, value: number) => {
    const full = `${METRIC_PREFIX}_${name}`
    lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} ${type}`, `${full}${labels} ${value}`)
  }
  add("num_requests_running", "gauge", "Sequences in the running batch.", s.numRequestsRunning)
  add("num_requests_waiting", "gauge", "Sequences waiting for admission.", s.numRequestsWaiting)
  add("num_requests_paused", "gauge", "Sequences paused because their reader is not keeping up.", s.numRequestsPaused)
  add("kv_cache_usage_perc", "gauge", "Fraction of KV cache blocks in use (0 to 1).", s.kvCacheUsage)
  add("prefix_cache_queries", "counter", "Prompt tokens looked up in the prefix cache.", s.prefixCacheQueries)
  add("prefix_cache_hits", "counter", "Prompt tokens found in the prefix cache.", s.prefixCacheHits)
  add("num_preemptions_total", "counter", "Preemptions (recompute) of running sequences.", s.numPreemptions)
  add("prompt_tokens_total", "counter", "Prompt tokens processed.", s.promptTokensTotal)
  add("generation_tokens_total", "counter", "Tokens generated.", s.generationTokensTotal)
  add("iteration_tokens_total", "counter", "Tokens scheduled over all engine steps (vLLM has a per-step histogram).", s.iterationTokensTotal)
  lines.push(...deploymentLines(yield* Router, yield* Clock.currentTimeMillis))
  const http = yield* PrometheusMetrics.format({ metricNameMapper: prometheusName })
  return lines.join("\n") + "\n" + http
})

export const metricsRoute = Layer.mergeAll(
  HttpRouter.add(
    "GET",
    "/metrics",
    Effect.map(renderMetrics, (body) => HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
  ),
  // Every finish reason shows up from the first scrape, at 0, so rate() and dashboards work at once.
  Layer.effectDiscard(Effect.gen(function*() {
    const engine = yield* Engine
    for (const reason of FINISH_REASONS) {
      yield* Metric.update(requestSuccess({ model_name: engine.info.modelName, finished_reason: reason }), 0)
    }
  }))
)
