import { NodeRedis } from "@effect/platform-node"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import type { Redis } from "effect/persistence"
import type { SqlClient } from "effect/sql"
import { Gateway, makeGateway } from "./gateway.ts"
import { GatewayAdmin, makeGatewayAdmin } from "./gateway-admin.ts"
import { makeKeyDirectory, type KeyDirectoryOptions } from "./key-directory.ts"
import { KeyStore } from "./key-store.ts"
import { LimitStore } from "./limits/limit-store.ts"
import { memoryLimitStoreLayer } from "./limits/memory-limit-store.ts"
import { redisLimitStoreLayer, type RedisLimitStoreOptions } from "./limits/redis-limit-store.ts"
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

export interface GatewayLimitsOptions {
  /** Where rate-limit counters live: this process (default) or Redis, shared by every instance. */
  readonly limits?: "memory" | { readonly redis: RedisLimitStoreOptions } | undefined
}

/** Gateway and GatewayAdmin over whatever KeyStore and LimitStore are provided; they share one key cache. */
export const gatewayServicesLayer = (options: GatewayOptions = {}): Layer.Layer<Gateway | GatewayAdmin, never, KeyStore | LimitStore> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const store = yield* KeyStore
      const directory = yield* makeKeyDirectory(store, options.keyCache)
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
  limits === undefined || limits === "memory" ? memoryLimitStoreLayer() : redisLimitStoreLayer(limits.redis)

/**
 * The gateway on the database (keys and teams in SqlClient's tables) with limits in memory, or in Redis
 * when `limits: { redis: {...} }` (then the Redis service is required too).
 */
export function gatewayLayer(options: GatewayOptions & { readonly limits: { readonly redis: RedisLimitStoreOptions } }): Layer.Layer<Gateway | GatewayAdmin, never, SqlClient.SqlClient | Redis.Redis>
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
 * REDIS_URL is set (connected here, closed with the layer), else in memory. Explicit options win.
 */
export const gatewayLayerFromConfig = (options: GatewayOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const masterKey = options.masterKey ?? Option.getOrUndefined(yield* Config.option(Config.Redacted("INFERLINE_MASTER_KEY")))
      const redisUrl = Option.getOrUndefined(yield* Config.option(Config.Redacted("REDIS_URL")))
      const settings = { ...options, masterKey }
      if (redisUrl === undefined) return gatewayLayer(settings)
      return gatewayLayer({ ...settings, limits: { redis: {} } }).pipe(
        Layer.provide(NodeRedis.layer({ url: Redacted.value(redisUrl) })),
        Layer.tap(() => Effect.logInfo("gateway: rate limits shared through Redis"))
      )
    })
  )
