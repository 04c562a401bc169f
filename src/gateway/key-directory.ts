import { Cache, Duration, Effect, Exit } from "effect"
import type { KeyStore, KeyStoreError, KeyWithTeam } from "./key-store.ts"

export interface KeyDirectoryOptions {
  /**
   * How long a lookup is trusted. Writes through this instance invalidate at once; this bounds how long
   * a key revoked or changed by another instance keeps its old state here. Default 5 s.
   */
  readonly ttl?: Duration.Input | undefined
  /** Most cached lookups (unknown keys included, so random keys cannot flood the database). Default 10 000. */
  readonly capacity?: number | undefined
}

interface Cached {
  readonly entry: KeyWithTeam | undefined
  /** The invalidation count when the lookup started; a lookup that raced an invalidation is not kept. */
  readonly generation: number
}

/**
 * Key lookups by hash through an in-memory cache: a request with a known key costs no database round
 * trip. Concurrent misses for one hash share a single lookup; failed lookups are not cached.
 */
export const makeKeyDirectory = (store: KeyStore["Service"], options: KeyDirectoryOptions = {}) =>
  Effect.gen(function*() {
    const ttl = Duration.fromInputUnsafe(options.ttl ?? "5 seconds")
    let generation = 0
    const cache = yield* Cache.makeWith<string, Cached, KeyStoreError>(
      (hash) => Effect.suspend(() => {
        const started = generation
        return Effect.map(store.findByHash(hash), (entry) => ({ entry, generation: started }))
      }),
      {
        capacity: options.capacity ?? 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) && exit.value.generation === generation ? ttl : Duration.zero)
      }
    )
    const invalidateWhere = (matches: (entry: KeyWithTeam) => boolean) =>
      Effect.gen(function*() {
        generation++
        for (const [hash, { entry }] of yield* Cache.entries(cache)) {
          if (entry !== undefined && matches(entry)) yield* Cache.invalidate(cache, hash)
        }
      })
    return {
      lookup: (hash: string): Effect.Effect<KeyWithTeam | undefined, KeyStoreError> => Effect.map(Cache.get(cache, hash), (c) => c.entry),
      /** A key was created: drop a cached "unknown" for its hash. */
      forgetHash: (hash: string) => Cache.invalidate(cache, hash),
      invalidateKey: (id: string) => invalidateWhere((e) => e.key.id === id),
      invalidateTeam: (id: string) => invalidateWhere((e) => e.team?.id === id)
    }
  })

export type KeyDirectory = Effect.Success<ReturnType<typeof makeKeyDirectory>>
