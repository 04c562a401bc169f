import { NodeRedis } from "@effect/platform-node"
import { Config, Duration, Effect, Exit, Layer, Option, Schedule, Scope } from "effect"
import { Redis } from "effect/persistence"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"

/** How long startup waits for a Redis that is not reachable yet (INFERLINE_REDIS_STARTUP_WAIT_MS). */
export const DEFAULT_REDIS_STARTUP_WAIT_MS = 60_000

const message = (e: Redis.RedisError) => (e.cause instanceof Error ? e.cause.message : String(e.cause))

/**
 * The server's Redis connection (REDIS_URL). Commands sent while it is down fail at once instead of
 * queueing until it is back (no offline queue). A Redis not reachable yet at startup (started along with
 * us, say) is retried as the database is: backoff from 0.25 s doubling to 5 s, logged once every 10 s,
 * for `startupWaitMs`; then startup fails with the last error. Each attempt's client is closed when it
 * fails (attempts do not pile up).
 */
export const redisConnectionLayer = (url: string, startupWaitMs = DEFAULT_REDIS_STARTUP_WAIT_MS): Layer.Layer<Redis.Redis, Redis.RedisError> =>
  Layer.effectContext(Effect.gen(function*() {
    const outer = yield* Effect.scope
    const deadline = Date.now() + startupWaitMs
    const log = rateLimitedLog()
    const attempt = Effect.gen(function*() {
      const scope = yield* Scope.fork(outer)
      return yield* Layer.buildWithScope(NodeRedis.layer({ url, disableOfflineQueue: true }), scope).pipe(
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    })
    return yield* attempt.pipe(
      Effect.tapError((e) =>
        Date.now() < deadline
          ? log("startup", "Warning", `redis: not reachable yet (${message(e)}); retrying for up to ${Math.ceil((deadline - Date.now()) / 1000)} s more (INFERLINE_REDIS_STARTUP_WAIT_MS)`)
          : Effect.void
      ),
      Effect.retry({
        schedule: Schedule.exponential("250 millis").pipe(Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5))))),
        while: () => Date.now() < deadline
      }),
      Effect.mapError((e) => (startupWaitMs > 0 ? new Redis.RedisError({ cause: new Error(`Redis could not be reached in ${Math.round(startupWaitMs / 1000)} s: ${message(e)}`, { cause: e.cause }) }) : e))
    )
  }))

/** The connection with the startup wait from INFERLINE_REDIS_STARTUP_WAIT_MS (milliseconds; default 60000). */
export const redisConnectionLayerFromEnv = (url: string): Layer.Layer<Redis.Redis, Redis.RedisError | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.option(Config.Int("INFERLINE_REDIS_STARTUP_WAIT_MS")), (wait) => redisConnectionLayer(url, Option.getOrUndefined(wait))))
