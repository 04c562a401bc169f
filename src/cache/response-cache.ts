import { Context, Effect, Metric } from "effect"
import { counterFamily } from "../effect/metric-family.ts"
import type { CacheControls } from "./cache-controls.ts"
import { cacheKey, isDeterministic, keyMatches, keyRegex, type CacheSelector } from "./cache-key.ts"
import type { CacheSettings } from "./cache-settings.ts"
import type { CachedResponse } from "./cached-response.ts"
import type { CacheStoreError, ResponseStore } from "./response-store.ts"
import type { SemanticCache } from "./semantic-cache.ts"
import { semanticOptedIn, semanticQuery, type CacheRequester, type SemanticQuery } from "./semantic-request.ts"

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
    /** Set when the semantic cache is on for the request and it is a candidate. */
    readonly semantic: SemanticQuery | undefined
  }

/** What a lookup found: an exact entry, one that means the same (with its similarity), or nothing. */
export interface CacheLookup {
  readonly entry: CachedResponse | undefined
  readonly match: "exact" | "semantic" | undefined
  readonly similarity: number | undefined
  /** The request's embedding, when the semantic cache made one: `store` reuses it. */
  readonly vector: Float32Array | undefined
}

export type CacheResult = "hit" | "miss" | "bypass"

export interface ResponseCacheService {
  readonly settings: CacheSettings | undefined
  readonly plan: (kind: "chat" | "completions", group: string, who: CacheRequester, body: Readonly<Record<string, unknown>>, controls: CacheControls) => CachePlan
  /**
   * The entry for a plan, if fresh: the exact one, else (semantic cache on) one whose request means the
   * same; a store or embedder that cannot be reached is a miss (logged, counted).
   */
  readonly lookup: (plan: CachePlan, now: number) => Effect.Effect<CacheLookup>
  /** Stores an answer (and its semantic entry); a failure is logged and counted, never the request's. */
  readonly store: (plan: CachePlan, entry: CachedResponse, found: CacheLookup) => Effect.Effect<void>
  /** Counts a request's outcome (and, for a hit, the money it saved). */
  readonly record: (result: CacheResult, savedUsd: number) => Effect.Effect<void>
  readonly clear: (selector: CacheSelector) => Effect.Effect<number, CacheStoreError>
}

const requests = counterFamily("response_cache_requests_total", { description: "Model requests by response-cache outcome: hit, miss, bypass." })
const saved = Metric.counter("response_cache_saved_usd_total", { description: "What the requests answered from the response cache would have cost (USD)." })
const errors = counterFamily("response_cache_errors_total", { description: "Response-cache store operations that failed (the request went on without the cache)." })

const OFF: CachePlan = { _tag: "Off" }
const NOTHING: CacheLookup = { entry: undefined, match: undefined, similarity: undefined, vector: undefined }
const BYPASS: CachePlan = { _tag: "Bypass" }

/** The response cache over a store, with its settings (undefined: off) and its semantic half, if configured. */
export const makeResponseCache = (settings: CacheSettings | undefined, store: ResponseStore | undefined, semantic?: SemanticCache): ResponseCacheService => {
  const failed = (e: CacheStoreError) =>
    Effect.andThen(
      Metric.update(errors({ operation: e.operation }), 1),
      Effect.logWarning(`response cache: ${e.operation} failed, going on without the cache`, e.cause)
    )
  const fresh = (plan: { readonly maxAgeMs: number | undefined }, now: number) => (entry: CachedResponse | undefined) =>
    entry !== undefined && (plan.maxAgeMs === undefined || now - entry.storedAt <= plan.maxAgeMs) ? entry : undefined
  const exactLookup = (key: string) => store === undefined ? Effect.succeed(undefined) : store.get(key)
  return {
    settings,
    plan: (kind, group, who, body, controls) => {
      if (settings === undefined || store === undefined) return OFF
      if (!settings.callTypes.has(kind) || (settings.mode === "default_off" && !controls.optedIn)) return BYPASS
      if (settings.deterministicOnly && !isDeterministic(body)) return BYPASS
      // Half of a disaggregated request: its answer names a KV transfer that can be fetched once.
      if (body.kv_transfer_params != null) return BYPASS
      if (controls.noCache && controls.noStore) return BYPASS
      const semanticOn = semantic !== undefined && settings.semantic !== undefined && semanticOptedIn(settings.semantic.enabledFor, group, who)
      return {
        _tag: "Use",
        key: cacheKey(settings, kind, group, who, body),
        read: !controls.noCache,
        write: !controls.noStore,
        ttlMs: controls.ttlMs ?? settings.ttlMs,
        maxAgeMs: controls.maxAgeMs,
        semantic: semanticOn ? semanticQuery(settings, kind, group, who, body) : undefined
      }
    },
    lookup: (plan, now) => {
      if (plan._tag !== "Use" || !plan.read || store === undefined) return Effect.succeed(NOTHING)
      const exact = store.get(plan.key).pipe(Effect.map(fresh(plan, now)), Effect.catch((e) => Effect.as(failed(e), undefined)))
      return Effect.flatMap(exact, (entry): Effect.Effect<CacheLookup> => {
        if (entry !== undefined) return Effect.succeed({ ...NOTHING, entry, match: "exact" })
        if (plan.semantic === undefined || semantic === undefined) return Effect.succeed(NOTHING)
        const get = (id: string) => Effect.map(exactLookup(id), fresh(plan, now))
        return Effect.map(semantic.lookup(plan.semantic, get), ({ hit, vector }) =>
          hit === undefined ? { ...NOTHING, vector } : { entry: hit.entry, match: "semantic", similarity: hit.similarity, vector })
      })
    },
    store: (plan, entry, found) =>
      plan._tag !== "Use" || !plan.write || store === undefined
        ? Effect.void
        : store.set(plan.key, entry, plan.ttlMs).pipe(
          Effect.andThen(plan.semantic === undefined || semantic === undefined ? Effect.void : semantic.store(plan.semantic, plan.key, found.vector, plan.ttlMs)),
          Effect.catch(failed)
        ),
    record: (result, savedUsd) =>
      result === "hit" && savedUsd > 0
        ? Effect.andThen(Metric.update(requests({ result }), 1), Metric.update(saved, savedUsd))
        : Metric.update(requests({ result }), 1),
    clear: (selector) =>
      store === undefined ? Effect.succeed(0) : Effect.tap(store.clear(selector), () =>
        semantic === undefined || settings === undefined
          ? Effect.void
          : semantic.clear((partition) => keyMatches(partition, selector), keyRegex(settings.namespace, selector)))
  }
}

/** The server's response cache; off unless a layer (responseCacheLayer) provides one. */
export const ResponseCache = Context.Reference<ResponseCacheService>("inferline/cache/ResponseCache", {
  defaultValue: () => makeResponseCache(undefined, undefined)
})
