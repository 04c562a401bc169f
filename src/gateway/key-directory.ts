import { Cache, Duration, Effect, Exit } from "effect"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import type { KeyStore, KeyStoreError, KeyWithTeam } from "./key-store.ts"

export interface KeyDirectoryOptions {
  /**
   * How long a lookup is trusted. Writes through this instance invalidate at once; this bounds how long
   * a key revoked or changed by another instance keeps its old state here. Default 5 s.
   */
  readonly ttl?: Duration.Input | undefined
  /**
   * How long a lookup may still be used, past `ttl`, while the key store cannot be read (the database
   * is down or hung): requests of known keys go on being served from memory, unknown keys get a 503.
   * Default 5 minutes (`INFERLINE_KEY_CACHE_GRACE_MS`); 0 turns it off.
   */
  readonly grace?: Duration.Input | undefined
  /** Most cached lookups (unknown keys included, so random keys cannot flood the database). Default 10 000. */
  readonly capacity?: number | undefined
}

export const DEFAULT_KEY_CACHE_GRACE = "5 minutes"

interface Cached {
  readonly entry: KeyWithTeam | undefined
  /** The invalidation count when the lookup started; a lookup that raced an invalidation is not kept. */
  readonly generation: number
}

/**
 * Key lookups by hash through an in-memory cache: a request with a known key costs no database round
 * trip. Concurrent misses for one hash share a single lookup; failed lookups are not cached. The last
 * good lookup of each hash is kept for `grace` as a fallback for when the store fails: a database
 * outage does not lock out the clients it has already seen (revoking or changing a key needs the
 * database too, so nothing done meanwhile is missed, except on another instance that can still reach it).
 */
export const makeKeyDirectory = (store: KeyStore["Service"], options: KeyDirectoryOptions = {}) =>
  Effect.gen(function*() {
    const ttl = Duration.fromInputUnsafe(options.ttl ?? "5 seconds")
    const graceMs = Duration.toMillis(Duration.fromInputUnsafe(options.grace ?? DEFAULT_KEY_CACHE_GRACE))
    const capacity = options.capacity ?? 10_000
    const log = rateLimitedLog()
    let generation = 0
    /** hash -> the last successful lookup and when it was made (oldest first, at most `capacity`). */
    const lastGood = new Map<string, { readonly entry: KeyWithTeam | undefined; readonly at: number }>()
    const remember = (hash: string, entry: KeyWithTeam | undefined) => {
      lastGood.delete(hash)
      lastGood.set(hash, { entry, at: Date.now() })
      if (lastGood.size > capacity) lastGood.delete(lastGood.keys().next().value!)
    }
    const cache = yield* Cache.makeWith<string, Cached, KeyStoreError>(
      (hash) => Effect.suspend(() => {
        const started = generation
        return Effect.map(store.findByHash(hash), (entry) => {
          if (generation === started) remember(hash, entry)
          return { entry, generation: started }
        })
      }),
      {
        capacity,
        timeToLive: (exit) => (Exit.isSuccess(exit) && exit.value.generation === generation ? ttl : Duration.zero)
      }
    )
    /** The store failed: the last good lookup if it is recent enough, else the failure. */
    const fallback = (hash: string, error: KeyStoreError): Effect.Effect<KeyWithTeam | undefined, KeyStoreError> => {
      const last = lastGood.get(hash)
      if (last === undefined || Date.now() - last.at > graceMs) return Effect.fail(error)
      return Effect.as(log("stale", "Warning", `gateway: the key store cannot be read (${error.operation}); serving keys looked up in the last ${Math.round(graceMs / 1000)} s from memory`), last.entry)
    }
    const invalidateWhere = (matches: (entry: KeyWithTeam) => boolean) =>
      Effect.gen(function*() {
        generation++
        for (const [hash, { entry }] of yield* Cache.entries(cache)) {
          if (entry !== undefined && matches(entry)) yield* Cache.invalidate(cache, hash)
        }
        for (const [hash, { entry }] of lastGood) if (entry !== undefined && matches(entry)) lastGood.delete(hash)
      })
    return {
      lookup: (hash: string): Effect.Effect<KeyWithTeam | undefined, KeyStoreError> =>
        Cache.get(cache, hash).pipe(Effect.map((c) => c.entry), Effect.catch((e) => fallback(hash, e))),
      /** A key was created: drop a cached "unknown" for its hash. */
      forgetHash: (hash: string) => Effect.andThen(Effect.sync(() => lastGood.delete(hash)), Cache.invalidate(cache, hash)),
      invalidateKey: (id: string) => invalidateWhere((e) => e.key.id === id),
      invalidateTeam: (id: string) => invalidateWhere((e) => e.team?.id === id)
    }
  })

export type KeyDirectory = Effect.Success<ReturnType<typeof makeKeyDirectory>>
