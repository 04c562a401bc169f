import { NodeRedis } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Redis } from "effect/persistence"
import type { CacheSettings } from "./cache-settings.ts"
import { makeMemoryResponseStore } from "./memory-response-store.ts"
import { makeRedisResponseStore } from "./redis-response-store.ts"
import { makeResponseCache, ResponseCache } from "./response-cache.ts"

/** The response cache of `settings`, its entries in this process's memory. */
export const memoryResponseCacheLayer = (settings: CacheSettings) =>
  Layer.succeed(ResponseCache, makeResponseCache(settings, makeMemoryResponseStore(settings.maxBytes)))

/** The response cache of `settings`, its entries in the Redis the layer is given. */
export const redisResponseCacheLayer = (settings: CacheSettings): Layer.Layer<never, never, Redis.Redis> =>
  Layer.effect(ResponseCache, Effect.map(Redis.Redis, (redis) => makeResponseCache(settings, makeRedisResponseStore(redis, settings.namespace))))

/**
 * The response cache as `inferline serve` runs it: off without settings; `type: redis` connects to
 * `redisUrl` (REDIS_URL), closed with the layer; `type: local` keeps entries in memory.
 */
export const responseCacheLayer = (settings: CacheSettings | undefined, redisUrl: string | undefined): Layer.Layer<never> => {
  if (settings === undefined) return Layer.empty
  if (settings.type === "local") return memoryResponseCacheLayer(settings)
  if (redisUrl === undefined) throw new Error("cache type redis needs REDIS_URL")
  // Commands fail at once while Redis is unreachable (no offline queue), and closing does not wait for them.
  return redisResponseCacheLayer(settings).pipe(Layer.provide(NodeRedis.layer({ url: redisUrl, disableOfflineQueue: true })), Layer.orDie)
}
