import { Clock, Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import type { DeploymentState } from "../router/deployment-state.ts"
import { Router } from "../router/router.ts"
import { requireMaster } from "./gateway/authenticate-request.ts"
import { orGatewayErrorResponse } from "./gateway/gateway-error-response.ts"

/** One deployment as operators see it (never its api_key): health, load and what the strategies use. */
const deploymentStatus = (d: DeploymentState, now: number) => {
  const c = d.config
  const state = d.breaker.state(now)
  const usage = d.usage(now)
  return {
    id: c.id,
    group: c.group,
    provider: c.provider,
    model: c.model,
    api_base: c.apiBase === "" ? null : c.apiBase,
    // closed: healthy; open: in cooldown until cooldown_until; half-open: one probe request may go.
    state,
    cooldown_until: state === "open" ? new Date(d.breaker.reopensAt).toISOString() : null,
    in_flight: d.inFlight,
    latency_ms: d.latencyMs === null ? null : Math.round(d.latencyMs * 10) / 10,
    requests_this_minute: usage.requests,
    tokens_this_minute: usage.tokens,
    rpm: c.rpm ?? null,
    tpm: c.tpm ?? null,
    max_parallel_requests: c.maxParallelRequests ?? null,
    order: c.order ?? null,
    tags: c.tags
  }
}

/**
 * GET /router/deployments (master key): every deployment's live state, for finding the one in
 * cooldown or at its limits without reading logs. Nothing is called: it is what the router knows.
 */
const routerDeploymentsRoute = HttpRouter.add("GET", "/router/deployments", orGatewayErrorResponse(Effect.andThen(requireMaster, Effect.gen(function*() {
  const router = yield* Router
  const now = yield* Clock.currentTimeMillis
  return HttpServerResponse.jsonUnsafe({ object: "list", data: router.deployments().map((d) => deploymentStatus(d, now)) })
}))))

export const routerStatusRoutes = Layer.mergeAll(routerDeploymentsRoute)
