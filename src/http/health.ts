import { Cause, Clock, Duration, Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Redis } from "effect/persistence"
import { SqlClient } from "effect/sql"
import { Engine } from "../actors/engine.ts"
import { Router } from "../router/router.ts"

/** How long a dependency may take to answer a readiness probe before it counts as down. */
const PROBE_TIMEOUT = Duration.seconds(2)
/** An event loop that took longer than this to come round is reported as not live. */
const LIVENESS_MAX_LAG_MS = 1000

const startedAt = Date.now()

/** Time for the event loop to come round once: how long any request waits for it now. */
const eventLoopLagMs = Effect.promise(() => {
  const t = performance.now()
  return new Promise<number>((resolve) => setImmediate(() => resolve(performance.now() - t)))
})

/**
 * GET /health/liveness: the process is alive and its event loop responsive (an orchestrator restarts
 * it otherwise). Depends on nothing outside the process, so an outage elsewhere never restarts it.
 */
const livenessRoute = HttpRouter.add("GET", "/health/liveness", Effect.gen(function*() {
  const lag = yield* eventLoopLagMs
  const live = lag <= LIVENESS_MAX_LAG_MS
  return HttpServerResponse.jsonUnsafe(
    { status: live ? "ok" : "event_loop_blocked", uptime_seconds: Math.round((Date.now() - startedAt) / 1000), event_loop_lag_ms: Math.round(lag * 10) / 10 },
    { status: live ? 200 : 503 }
  )
}))

type Check = { readonly status: "ok" | "down" | "none"; readonly detail?: string }

const describe = (e: unknown): string => (typeof e === "string" ? e : e instanceof Error ? e.message : "failed")

const probe = <E>(what: Effect.Effect<unknown, E>): Effect.Effect<Check> =>
  what.pipe(
    Effect.timeoutOrElse({ duration: PROBE_TIMEOUT, orElse: () => Effect.fail(`no answer within ${Duration.toSeconds(PROBE_TIMEOUT)} s`) }),
    Effect.as({ status: "ok" } as Check),
    Effect.catchCause((cause) => Effect.succeed({ status: "down", detail: describe(Cause.squash(cause)) } as Check))
  )

/**
 * GET /health/readiness: whether this replica should get traffic: the database answers, Redis answers
 * (when REDIS_URL is set), the model is loaded (or none is served: --no-model), and every model group has
 * a deployment that is not in cooldown. 200 when all hold, else 503; the body says which failed.
 */
const readinessRoute = HttpRouter.add("GET", "/health/readiness", Effect.gen(function*() {
  const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
  const redis = yield* Effect.serviceOption(Redis.Redis)
  const engine = yield* Engine
  const router = yield* Router
  const now = yield* Clock.currentTimeMillis
  const [database, redisCheck] = yield* Effect.all([
    Option.isSome(sql) ? probe(sql.value.unsafe("SELECT 1")) : Effect.succeed<Check>({ status: "none" }),
    Option.isSome(redis) ? probe(redis.value.send("PING")) : Effect.succeed<Check>({ status: "none" })
  ], { concurrency: "unbounded" })
  const groups = router.groupNames.map((group) => {
    const deployments = router.deployments().filter((d) => d.config.group === group)
    const healthy = deployments.filter((d) => d.breaker.state(now) !== "open").length
    return { group, deployments: deployments.length, healthy }
  })
  const unhealthy = groups.filter((g) => g.healthy === 0).map((g) => g.group)
  const checks = {
    database,
    redis: redisCheck,
    engine: engine.info.gatewayOnly === true ? { status: "none", detail: "gateway only (--no-model)" } : { status: "ok", model: engine.info.modelName },
    deployments: unhealthy.length === 0 ? { status: "ok", groups } : { status: "down", detail: `no deployment out of cooldown in ${unhealthy.join(", ")}`, groups }
  }
  const ready = database.status !== "down" && redisCheck.status !== "down" && unhealthy.length === 0
  return HttpServerResponse.jsonUnsafe({ status: ready ? "ready" : "not_ready", checks }, { status: ready ? 200 : 503 })
}))

export const healthRoutes = Layer.mergeAll(livenessRoute, readinessRoute)
