import { Data, type Effect } from "effect"
import type { CacheSelector } from "./cache-key.ts"
import type { CachedResponse } from "./cached-response.ts"

/** The store could not be reached: the request goes on without the cache (logged and counted). */
export class CacheStoreError extends Data.TaggedError("CacheStoreError")<{ readonly operation: string; readonly cause: unknown }> {}

/** Where entries live: this process's memory, or Redis shared by every instance. */
export interface ResponseStore {
  readonly get: (key: string) => Effect.Effect<CachedResponse | undefined, CacheStoreError>
  readonly set: (key: string, entry: CachedResponse, ttlMs: number) => Effect.Effect<void, CacheStoreError>
  /** Removes the entries under a selector; how many went. */
  readonly clear: (selector: CacheSelector) => Effect.Effect<number, CacheStoreError>
}
