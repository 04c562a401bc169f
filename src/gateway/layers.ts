import { Config, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Redis } from "effect/persistence"
import type { SqlClient } from "effect/sql"
import { Gateway, makeGateway } from "./gateway.ts"
import { GatewayAdmin, makeGatewayAdmin } from "./gateway-admin.ts"
import { makeKeyDirectory, type KeyDirectoryOptions } from "./key-directory.ts"
import { redisKeyInvalidationBusLayer, sharedKeyDirectory } from "./key-invalidation.ts"
import { KeyStore } from "./key-store.ts"
import { LimitStore } from "./limits/limit-store.ts"
import { redisConnectionLayerFromEnv } from "../db/redis-connection.ts"
import { makeDependencyGuard } from "../effect/dependency-guard.ts"
import { makeMemoryLimitStore, memoryLimitStoreLayer } from "./limits/memory-limit-store.ts"
import { makeRedisLimitStore, type RedisLimitStoreOptions } from "./limits/redis-limit-store.ts"
import { LIMITS_ON_OUTAGE, makeResilientLimitStore, type LimitsOnOutage } from "./limits/resilient-limit-store.ts"
import { memoryKeyStoreLayer } from "./memory-key-store.ts"
import { sqlKeyStoreLayer } from "./sql-key-store.ts"

export interface GatewayOptions {
  /** Without one, keys are off: every request is allowed (and the server must stay on loopback). */
  readonly masterKey?: string | Redacted.Redacted<string> | undefined
  readonly keyCache?: KeyDirectoryOptions | undefined
  /** Gateway-wide per-request caps (keys and teams can set tighter ones). */
  readonly maxMessages?: number | undefined
  readonly maxPromptTokens?: number | undefined
}

export interface SharedLimitsOptions extends RedisLimitStoreOptions {
  /** Longest a Redis command may take before Redis counts as down (default 500 ms). */
  readonly timeout?: Duration.Input | undefined
  /** What limits do while Redis is down (default `local`): see LimitsOnOutage. */
  readonly onOutage?: LimitsOnOutage | undefined
}

export interface GatewayLimitsOptions {
  /** Where rate-limit counters live: this process (default) or Redis, shared by every instance. */
  readonly limits?: "memory" | { readonly redis: SharedLimitsOptions } | undefined
}

export const DEFAULT_REDIS_TIMEOUT = "500 millis"


/**
 * Limits in Redis behind a guard (command timeout, fail-fast while it is down, a PING probe to see it
 * back), with limits in this process's memory as the fallback `onOutage` may choose.
 */
export const sharedLimitStoreLayer = (options: SharedLimitsOptions = {}): Layer.Layer<LimitStore, never, Redis.Redis> =>
  Layer.effect(LimitStore, Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const shared = yield* makeRedisLimitStore(options)
    const local = yield* makeMemoryLimitStore({ windowMs: options.windowMs })
    const guard = makeDependencyGuard({ name: "Redis", timeout: options.timeout ?? DEFAULT_REDIS_TIMEOUT, isOutage: () => true, probe: redis.send("PING") })
    return makeResilientLimitStore(shared, local, guard, options.onOutage ?? "local")
  }))

/** Gateway and GatewayAdmin over whatever KeyStore and LimitStore are provided; they share one key cache. */
export const gatewayServicesLayer = (options: GatewayOptions = {}): Layer.Layer<Gateway | GatewayAdmin, never, KeyStore | LimitStore> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const store = yield* KeyStore
      // Changes made through any instance reach this one's cache (at once with REDIS_URL, see key-invalidation.ts).
      const directory = yield* sharedKeyDirectory(yield* makeKeyDirectory(store, options.keyCache))
      const masterKey = options.masterKey === undefined ? undefined : Redacted.isRedacted(options.masterKey) ? Redacted.value(options.masterKey) : options.masterKey
      const gateway = yield* makeGateway(directory, { masterKey: masterKey === "" ? undefined : masterKey, maxMessages: options.maxMessages, maxPromptTokens: options.maxPromptTokens })
      const admin = yield* makeGatewayAdmin(directory)
      yield* gateway.authEnabled
        ? Effect.logInfo("gateway: API keys on (master key configured)")
        : Effect.logWarning("gateway: no master key configured: API keys are OFF and every request is allowed")
      return Context.make(Gateway, gateway).pipe(Context.add(GatewayAdmin, admin))
    })
  )

const limitStoreLayer = (limits: GatewayLimitsOptions["limits"]) =>
  limits === undefined || limits === "memory" ? memoryLimitStoreLayer() : sharedLimitStoreLayer(limits.redis)

/**
 * The gateway on the database (keys and teams in SqlClient's tables) with limits in memory, or in Redis
 * when `limits: { redis: {...} }` (then the Redis service is required too).
 */
export function gatewayLayer(options: GatewayOptions & { readonly limits: { readonly redis: SharedLimitsOptions } }): Layer.Layer<Gateway | GatewayAdmin, never, SqlClient.SqlClient | Redis.Redis>
export function gatewayLayer(options?: GatewayOptions & { readonly limits?: "memory" | undefined }): Layer.Layer<Gateway | GatewayAdmin, never, SqlClient.SqlClient>
export function gatewayLayer(options: GatewayOptions & GatewayLimitsOptions = {}): Layer.Layer<Gateway | GatewayAdmin, never, SqlClient.SqlClient | Redis.Redis> {
  return gatewayServicesLayer(options).pipe(Layer.provide(Layer.mergeAll(sqlKeyStoreLayer, limitStoreLayer(options.limits))))
}

/**
 * For other people's tests: keys and teams in memory, limits in memory; no database, no Redis. Exposes
 * the stores too, so a test can seed or inspect them. Create keys with GatewayAdmin.createKey.
 */
export const gatewayTestLayer = (options: GatewayOptions & { readonly windowMs?: number } = {}): Layer.Layer<Gateway | GatewayAdmin | KeyStore | LimitStore> =>
  gatewayServicesLayer(options).pipe(Layer.provideMerge(Layer.mergeAll(memoryKeyStoreLayer, memoryLimitStoreLayer({ windowMs: options.windowMs }))))

/**
 * The gateway as `npm start` runs it: master key from INFERLINE_MASTER_KEY, limits in Redis when
 * REDIS_URL is set (connected here, closed with the layer), else in memory; INFERLINE_REDIS_TIMEOUT_MS
 * (default 500), INFERLINE_LIMITS_ON_REDIS_DOWN (`local`, `closed` or `open`; default `local`) and
 * INFERLINE_KEY_CACHE_GRACE_MS (default 300000). Explicit options win. `redis`: the connection to use
 * (the server shares one with the router and the health checks), else one is opened here.
 */
export const gatewayLayerFromConfig = (options: GatewayOptions = {}, redis?: Layer.Layer<Redis.Redis, Redis.RedisError | Config.ConfigError>) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const masterKey = options.masterKey ?? Option.getOrUndefined(yield* Config.option(Config.Redacted("INFERLINE_MASTER_KEY")))
      const redisUrl = Option.getOrUndefined(yield* Config.option(Config.Redacted("REDIS_URL")))
      const grace = Option.getOrUndefined(yield* Config.option(Config.Int("INFERLINE_KEY_CACHE_GRACE_MS")))
      const settings = { ...options, masterKey, keyCache: { grace, ...options.keyCache } }
      if (redisUrl === undefined) return gatewayLayer(settings)
      const timeout = Option.getOrUndefined(yield* Config.option(Config.Int("INFERLINE_REDIS_TIMEOUT_MS")))
      const onOutage = Option.getOrUndefined(yield* Config.option(Config.Literals(LIMITS_ON_OUTAGE, "INFERLINE_LIMITS_ON_REDIS_DOWN")))
      return gatewayLayer({ ...settings, limits: { redis: { timeout, onOutage } } }).pipe(
        // Key and team changes reach every instance's key cache through Redis pub/sub.
        Layer.provide(redisKeyInvalidationBusLayer),
        Layer.provide(redis ?? redisConnectionLayerFromEnv(Redacted.value(redisUrl))),
        Layer.tap(() => Effect.logInfo("gateway: rate limits shared through Redis"))
      )
    })
  )
