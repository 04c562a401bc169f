import { Clock, Duration, Effect, type Scope } from "effect"
import type { DeploymentConfig } from "./config.ts"
import type { DeploymentState } from "./deployment-state.ts"

/** The longest a health probe may take before it counts as a failure. */
const PROBE_TIMEOUT_MS = 10_000

/**
 * One probe of a remote deployment: `GET {api_base}/models` (OpenAI-compatible) or `/v1/models`
 * (Anthropic) with the deployment's own credentials. What says the deployment is unusable counts: no
 * connection, no answer in time, a 5xx, a 401/403 (its key refused); any other answer (a server without
 * a models list answers 404) says it is up. Undefined when healthy, else why not.
 */
export const probeDeployment = async (d: DeploymentConfig, headers: Readonly<Record<string, string>>): Promise<string | undefined> => {
  // A disaggregated deployment is up when both its servers are.
  if (d.prefillApiBase !== undefined) {
    const prefill = await probeDeployment({ ...d, apiBase: d.prefillApiBase, prefillApiBase: undefined }, headers)
    if (prefill !== undefined) return `prefill server: ${prefill}`
  }
  const url = d.provider === "anthropic" ? `${d.apiBase}/v1/models` : `${d.apiBase}/models`
  try {
    const r = await fetch(url, { headers, signal: AbortSignal.timeout(Math.min(PROBE_TIMEOUT_MS, d.timeoutMs)) })
    await r.arrayBuffer()
    return r.status >= 500 || r.status === 401 || r.status === 403 ? `HTTP ${r.status}` : undefined
  } catch (e) {
    return (e as Error).name === "TimeoutError" ? "no answer in time" : `no connection (${(e as Error).message})`
  }
}

/**
 * Background health checks (general_settings.background_health_checks / health_check_interval): every
 * interval, each remote deployment is probed; a failed probe counts like a failed request toward its
 * cooldown (`onCooldown` when that put it in cooldown), so a dead upstream is skipped before a client's
 * request finds it. Runs for as long as the scope lasts.
 */
export const runHealthChecks = (options: {
  readonly intervalMs: number
  readonly deployments: ReadonlyArray<DeploymentState>
  readonly headersOf: (d: DeploymentConfig) => Readonly<Record<string, string>>
  readonly onCooldown: (d: DeploymentState) => Effect.Effect<void>
}): Effect.Effect<void, never, Scope.Scope> => {
  const remote = options.deployments.filter((d) => d.config.provider !== "local")
  const round = Effect.forEach(remote, (d) =>
    Effect.gen(function*() {
      const failure = yield* Effect.promise(() => probeDeployment(d.config, options.headersOf(d.config)))
      if (failure === undefined) return
      const now = yield* Clock.currentTimeMillis
      const before = d.breaker.cooldowns
      d.breaker.onFailure(now)
      yield* Effect.logWarning(`router: health check of deployment ${d.config.id} (group ${d.config.group}) failed: ${failure}`)
      if (d.breaker.cooldowns > before) yield* options.onCooldown(d)
    }), { concurrency: "unbounded", discard: true })
  return remote.length === 0
    ? Effect.void
    : Effect.asVoid(Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(options.intervalMs)), round))))
}
