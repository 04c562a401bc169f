import { Effect, Layer } from "effect"
import { Redis } from "effect/persistence"
import { SqlClient } from "effect/sql"
import type { CacheSettings } from "./cache-settings.ts"
import { makeMemoryResponseStore } from "./memory-response-store.ts"
import { makeRedisResponseStore } from "./redis-response-store.ts"
import { redisConnectionLayerFromEnv } from "../db/redis-connection.ts"
import { makeResponseCache, ResponseCache } from "./response-cache.ts"
import type { ResponseStore } from "./response-store.ts"
import { makeSemanticCache, syncSemanticEntries } from "./semantic-cache.ts"
import type { Embedder } from "./semantic/embedder.ts"
import { makeSemanticMatcher } from "./semantic/semantic-matcher.ts"
import { makeSifEmbedder } from "./semantic/sif-embedder.ts"
import { makeSqlSemanticEntryStore } from "./semantic/sql-semantic-entry-store.ts"

/** How often a replica picks up the semantic entries other replicas stored. */
const SEMANTIC_SYNC_MS = 1000

/**
 * The cache over `store`, with its semantic half when configured. With answers in Redis (shared), the
 * semantic entries go to the database too and every replica's index follows it; with answers in this
 * process's memory, so do the entries.
 */
const cacheOver = (settings: CacheSettings, store: ResponseStore, embedder: Embedder | undefined) =>
  Effect.gen(function*() {
    const semantic = settings.semantic
    if (semantic === undefined) return makeResponseCache(settings, store)
    const matcher = makeSemanticMatcher(embedder ?? makeSifEmbedder(), { threshold: semantic.threshold, maxEntries: semantic.maxEntries })
    if (settings.type === "local") return makeResponseCache(settings, store, makeSemanticCache(matcher, undefined))
    const entries = yield* makeSqlSemanticEntryStore
    yield* Effect.forkScoped(syncSemanticEntries(matcher, entries, SEMANTIC_SYNC_MS))
    return makeResponseCache(settings, store, makeSemanticCache(matcher, entries))
  })

/** The response cache of `settings`, its entries in this process's memory. */
export const memoryResponseCacheLayer = (settings: CacheSettings, embedder?: Embedder): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effect(ResponseCache, cacheOver(settings, makeMemoryResponseStore(settings.maxBytes), embedder))

/** The response cache of `settings`, its entries in the Redis the layer is given (semantic entries in the database). */
export const redisResponseCacheLayer = (settings: CacheSettings, embedder?: Embedder): Layer.Layer<never, never, Redis.Redis | SqlClient.SqlClient> =>
  Layer.effect(ResponseCache, Effect.flatMap(Redis.Redis, (redis) => cacheOver(settings, makeRedisResponseStore(redis, settings.namespace), embedder)))

/**
 * The response cache as `inferline serve` runs it: off without settings; `type: redis` connects to
 * `redisUrl` (REDIS_URL), closed with the layer; `type: local` keeps entries in memory. `embedder` is
 * the semantic cache's when it is a deployment (the built-in one otherwise).
 */
export const responseCacheLayer = (settings: CacheSettings | undefined, redisUrl: string | undefined, embedder?: Embedder): Layer.Layer<never, never, SqlClient.SqlClient> => {
  if (settings === undefined) return Layer.empty
  if (settings.type === "local") return memoryResponseCacheLayer(settings, embedder)
  if (redisUrl === undefined) throw new Error("cache type redis needs REDIS_URL")
  // Commands fail at once while Redis is unreachable (no offline queue), and closing does not wait for them.
  return redisResponseCacheLayer(settings, embedder).pipe(Layer.provide(redisConnectionLayerFromEnv(redisUrl)), Layer.orDie)
}
