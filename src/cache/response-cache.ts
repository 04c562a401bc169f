import { Context, Effect, Metric } from "effect"
import { counterFamily } from "../effect/metric-family.ts"
import type { CacheControls } from "./cache-controls.ts"
import { cacheKey, isDeterministic, type CacheScope, type CacheSelector } from "./cache-key.ts"
import type { CacheSettings } from "./cache-settings.ts"
import type { CachedResponse } from "./cached-response.ts"
import type { CacheStoreError, ResponseStore } from "./response-store.ts"

/** What the cache does for one request. */
export type CachePlan =
  /** The cache is not configured: no header, nothing done. */
  | { readonly _tag: "Off" }
  /** Not for the cache (sampled, opted out, not a cached endpoint): `x-inferline-cache: bypass`. */
  | { readonly _tag: "Bypass" }
  | {
    readonly _tag: "Use"
    readonly key: string
    /** Look up (not `no-cache`). */
    readonly read: boolean
    /** Store the answer (not `no-store`). */
    readonly write: boolean
    readonly ttlMs: number
    /** Accept an entry at most this old (s-maxage). */
    readonly maxAgeMs: number | undefined
  }

export type CacheResult = "hit" | "miss" | "bypass"

export interface ResponseCacheService {
  readonly settings: CacheSettings | undefined
  readonly plan: (kind: "chat" | "completions", group: string, scope: CacheScope, body: Readonly<Record<string, unknown>>, controls: CacheControls) => CachePlan
  /** The entry for a plan, if fresh; a store that cannot be reached is a miss (logged, counted). */
  readonly lookup: (plan: CachePlan, now: number) => Effect.Effect<CachedResponse | undefined>
  /** Stores an answer; a failure is logged and counted, never the request's. */
  readonly store: (plan: CachePlan, entry: CachedResponse) => Effect.Effect<void>
  /** Counts a request's outcome (and, for a hit, the money it saved). */
  readonly record: (result: CacheResult, savedUsd: number) => Effect.Effect<void>
  readonly clear: (selector: CacheSelector) => Effect.Effect<number, CacheStoreError>
}

const requests = counterFamily("response_cache_requests_total", { description: "Model requests by response-cache outcome: hit, miss, bypass." })
const saved = Metric.counter("response_cache_saved_usd_total", { description: "What the requests answered from the response cache would have cost (USD)." })
const errors = counterFamily("response_cache_errors_total", { description: "Response-cache store operations that failed (the request went on without the cache)." })

const OFF: CachePlan = { _tag: "Off" }
const BYPASS: CachePlan = { _tag: "Bypass" }

/** The response cache over a store, with its settings (undefined: off). */
export const makeResponseCache = (settings: CacheSettings | undefined, store: ResponseStore | undefined): ResponseCacheService => {
  const failed = (e: CacheStoreError) =>
    Effect.andThen(
      Metric.update(errors({ operation: e.operation }), 1),
      Effect.logWarning(`response cache: ${e.operation} failed, going on without the cache`, e.cause)
    )
  return {
    settings,
    plan: (kind, group, scope, body, controls) => {
      if (settings === undefined || store === undefined) return OFF
      if (!settings.callTypes.has(kind) || (settings.mode === "default_off" && !controls.optedIn)) return BYPASS
      if (settings.deterministicOnly && !isDeterministic(body)) return BYPASS
      if (controls.noCache && controls.noStore) return BYPASS
      return {
        _tag: "Use",
        key: cacheKey(settings, kind, group, scope, body),
        read: !controls.noCache,
        write: !controls.noStore,
        ttlMs: controls.ttlMs ?? settings.ttlMs,
        maxAgeMs: controls.maxAgeMs
      }
    },
    lookup: (plan, now) =>
      plan._tag !== "Use" || !plan.read || store === undefined
        ? Effect.succeed(undefined)
        : store.get(plan.key).pipe(
          Effect.map((entry) => (entry !== undefined && (plan.maxAgeMs === undefined || now - entry.storedAt <= plan.maxAgeMs) ? entry : undefined)),
          Effect.catch((e) => Effect.as(failed(e), undefined))
        ),
    store: (plan, entry) =>
      plan._tag !== "Use" || !plan.write || store === undefined ? Effect.void : store.set(plan.key, entry, plan.ttlMs).pipe(Effect.catch(failed)),
    record: (result, savedUsd) =>
      result === "hit" && savedUsd > 0
        ? Effect.andThen(Metric.update(requests({ result }), 1), Metric.update(saved, savedUsd))
        : Metric.update(requests({ result }), 1),
    clear: (selector) => (store === undefined ? Effect.succeed(0) : store.clear(selector))
  }
}

/** The server's response cache; off unless a layer (responseCacheLayer) provides one. */
export const ResponseCache = Context.Reference<ResponseCacheService>("inferline/cache/ResponseCache", {
  defaultValue: () => makeResponseCache(undefined, undefined)
})
