import { Effect } from "effect"
import type { Redis } from "effect/persistence"
import { keyPattern } from "./cache-key.ts"
import type { CachedResponse } from "./cached-response.ts"
import { CacheStoreError, type ResponseStore } from "./response-store.ts"

/** A cache lookup that takes longer than this is given up: the request goes on without the cache. */
const REDIS_CACHE_TIMEOUT = "250 millis"

/**
 * Entries in Redis, shared by every instance: one string per entry (its JSON) with the ttl as expiry.
 * Clearing walks the namespace with SCAN (never KEYS, which blocks Redis) and UNLINKs what matches.
 */
export const makeRedisResponseStore = (redis: Redis.Redis["Service"], namespace: string): ResponseStore => {
  const fail = (operation: string) => (cause: unknown) => new CacheStoreError({ operation, cause })
  const timed = <A>(operation: string, effect: Effect.Effect<A, unknown>) =>
    effect.pipe(
      Effect.timeoutOrElse({ duration: REDIS_CACHE_TIMEOUT, orElse: () => Effect.fail(new CacheStoreError({ operation, cause: "timed out" })) }),
      Effect.mapError((e) => (e instanceof CacheStoreError ? e : fail(operation)(e)))
    )
  return {
    get: (key) =>
      timed("get", Effect.map(redis.send<string | null>("GET", key), (text) => (text === null ? undefined : (JSON.parse(text) as CachedResponse)))),
    set: (key, entry, ttlMs) => timed("set", Effect.asVoid(redis.send("SET", key, JSON.stringify(entry), "PX", String(Math.max(1, ttlMs))))),
    clear: (selector) =>
      Effect.gen(function*() {
        const pattern = keyPattern(namespace, selector)
        let cursor = "0"
        let removed = 0
        do {
          const [next, keys] = yield* redis.send<[string, Array<string>]>("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
          if (keys.length > 0) removed += yield* redis.send<number>("UNLINK", ...keys)
          cursor = next
        } while (cursor !== "0")
        return removed
      }).pipe(Effect.mapError(fail("clear")))
  }
}
