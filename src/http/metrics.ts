import { Clock, Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Engine } from "../actors/engine.ts"
import { GEN_AI_PROMETHEUS_NAMES } from "../observability/genai-metrics.ts"
import { registerFinishReasons } from "../observability/generation-metrics.ts"
import type { DeploymentState } from "../router/deployment-state.ts"
import { Router, type RouterService } from "../router/router.ts"

/**
 * GET /metrics: the Prometheus exposition, with vLLM's names under the prefix `inferline_`. Gauges and
 * counters the engine already keeps (running, waiting, KV usage, prefix cache, preemptions, token
 * totals) and the router's deployment states are read at scrape time; per-sequence latencies and finish
 * reasons (src/observability/generation-metrics.ts) and the GenAI metrics come from the server's metric
 * registry (one per server, see server.ts).
 */

export const METRIC_PREFIX = "inferline"

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
  // A gateway without a model (--no-model) has no engine to report on.
  const add = (name: string, type: "gauge" | "counter", help: string, value: number) => {
    if (engine.info.gatewayOnly === true) return
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
  const spec = s.specDecode
  if (spec != null && engine.info.gatewayOnly !== true) {
    add("spec_decode_num_drafts_total", "counter", "Speculative verification steps of a sequence (each with at least one draft token).", spec.numDrafts)
    add("spec_decode_num_draft_tokens_total", "counter", "Draft tokens proposed and verified.", spec.numDraftTokens)
    add("spec_decode_num_accepted_tokens_total", "counter", "Draft tokens the target model accepted.", spec.numAcceptedTokens)
    const full = `${METRIC_PREFIX}_spec_decode_num_accepted_tokens_per_pos_total`
    lines.push(`# HELP ${full} Accepted draft tokens at each draft position (0: the first draft of a step).`, `# TYPE ${full} counter`)
    spec.numAcceptedTokensPerPos.forEach((n, pos) => lines.push(`${full}{model_name="${escapeLabel(engine.info.modelName)}",position="${pos}"} ${n}`))
  }
  const kv = s.kvTransfer
  if (kv != null && engine.info.gatewayOnly !== true) {
    add("kv_transfer_exports_total", "counter", "Requests whose prompt KV this prefill server handed over (--kv-role prefill).", kv.exports)
    add("kv_transfer_exported_bytes_total", "counter", "Bytes of KV blocks copied out for decode servers.", kv.exportedBytes)
    add("kv_transfer_fetches_total", "counter", "KV transfers this decode server fetched (--kv-role decode).", kv.fetches)
    add("kv_transfer_fetch_seconds_total", "counter", "Seconds spent fetching KV transfers (exported bytes over this: the transport's throughput).", kv.fetchSeconds)
    add("kv_transfer_fetch_failures_total", "counter", "KV transfers that could not be fetched (unknown, corrupt, truncated, unreachable).", kv.fetchFailures)
    add("kv_transfer_imports_total", "counter", "KV transfers written into this engine's blocks.", kv.imports)
    add("kv_transfer_imported_bytes_total", "counter", "Bytes of transferred KV written into this engine's blocks.", kv.importedBytes)
    add("kv_transfer_reused_blocks_total", "counter", "Transferred blocks not written because this engine's prefix cache already held them.", kv.reusedBlocks)
  }
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
  Layer.effectDiscard(Effect.flatMap(Engine, (engine) => (engine.info.gatewayOnly === true ? Effect.void : registerFinishReasons(engine.info.modelName))))
)
