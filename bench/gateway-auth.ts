/**
 * Gateway overhead per request, in process: Gateway.authenticate (header parsing, hashing, key cache)
 * and Gateway.admit + settle (reconcile and release; key and team limits: rpm, tpm and parallel), timed one
 * request at a time, with limits in memory and in Redis: the bare Redis store (the anchor) and the
 * store as `inferline serve` runs it (behind its guard: command timeout, fail-fast while Redis is
 * down, local fallback), alternating. The key cache is warm, as it is for any key in use; the database
 * is not on this path.
 *
 *   node bench/gateway-auth.ts [--requests 5000] [--redis redis://127.0.0.1:6379]
 *
 * Writes bench/results/gateway-auth-*.json with the machine and commit.
 */
import { NodeRedis } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import { parseArgs } from "node:util"
import { Gateway } from "../src/gateway/gateway.ts"
import { GatewayAdmin } from "../src/gateway/gateway-admin.ts"
import { gatewayServicesLayer, sharedLimitStoreLayer } from "../src/gateway/layers.ts"
import type { LimitStore } from "../src/gateway/limits/limit-store.ts"
import { memoryLimitStoreLayer } from "../src/gateway/limits/memory-limit-store.ts"
import { redisLimitStoreLayer } from "../src/gateway/limits/redis-limit-store.ts"
import { memoryKeyStoreLayer } from "../src/gateway/memory-key-store.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "5000" },
    redis: { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" }
  }
})
const requests = Number(args.requests)
const WARMUP = 500
const MASTER_KEY = "bench-master-key"

const percentiles = (micros: ReadonlyArray<number>) => {
  const s = [...micros].sort((a, b) => a - b)
  const at = (q: number) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(1))
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) }
}

const measure = (limits: Layer.Layer<LimitStore>) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway
    const admin = yield* GatewayAdmin
    // Limits far above what the run reaches, so every request takes the full admission path.
    const limitsOf = { rpm_limit: 1e8, tpm_limit: 1e9, max_parallel_requests: 1e6 }
    const team = yield* admin.createTeam(limitsOf)
    const { key } = yield* admin.createKey({ team_id: team.id, models: ["m"], ...limitsOf })
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" }

    const auth: Array<number> = [], admit: Array<number> = [], total: Array<number> = []
    for (let i = 0; i < WARMUP + requests; i++) {
      const t0 = performance.now()
      const principal = yield* gateway.authenticate(headers)
      yield* gateway.authorizeModel(principal, "m")
      const t1 = performance.now()
      yield* Effect.scoped(Effect.gen(function*() {
        const permit = yield* gateway.admit(principal, { estimatedTokens: 100 })
        yield* permit.settle(42)
      }))
      const t2 = performance.now()
      if (i < WARMUP) continue
      auth.push((t1 - t0) * 1000)
      admit.push((t2 - t1) * 1000)
      total.push((t2 - t0) * 1000)
    }
    return { authenticate_us: percentiles(auth), admit_us: percentiles(admit), total_us: percentiles(total) }
  }).pipe(
    Effect.provide(gatewayServicesLayer({ masterKey: MASTER_KEY }).pipe(Layer.provide(Layer.mergeAll(memoryKeyStoreLayer, limits)))),
    Effect.provide(Logger.layer([]))
  )

const memory = await Effect.runPromise(measure(memoryLimitStoreLayer()))
console.log("memory limits", memory)

const inRedis = (store: typeof redisLimitStoreLayer) =>
  store({ prefix: `bench:${process.pid}:${Date.now()}:` }).pipe(Layer.provide(NodeRedis.layer({ url: args.redis! })), Layer.orDie)
const run = (limits: Layer.Layer<LimitStore>) =>
  Effect.runPromise(measure(limits).pipe(Effect.map((r) => ({ ...r }) as object), Effect.catchCause((cause) => Effect.succeed({ skipped: String(cause) }))))
// Bare store and guarded store alternate (twice each), so a slow minute hits both.
const redisRuns: Array<object> = [], guardedRuns: Array<object> = []
for (let round = 0; round < 2; round++) {
  redisRuns.push(await run(inRedis(redisLimitStoreLayer)))
  guardedRuns.push(await run(inRedis(sharedLimitStoreLayer)))
}
const redis = redisRuns
const redisGuarded = guardedRuns
console.log("Redis limits", JSON.stringify(redis))
console.log("Redis limits as served (guarded)", JSON.stringify(redisGuarded))

const file = writeResult("gateway-auth", {
  machine: machineInfo(),
  requests,
  warmup: WARMUP,
  note: "one request at a time, in process; admit includes settle (reconcile and release); key and team each with rpm, tpm and parallel limits",
  memory,
  redis,
  redisGuarded
})
console.log(`wrote ${file}`)
