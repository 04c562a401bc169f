import { Effect, Metric } from "effect"
import { counterFamily } from "../effect/metric-family.ts"
import type { CachedResponse } from "./cached-response.ts"
import { CacheStoreError } from "./response-store.ts"
import type { SemanticQuery } from "./semantic-request.ts"
import type { Embedder } from "./semantic/embedder.ts"
import type { SemanticEntryStore } from "./semantic/semantic-entry-store.ts"
import type { SemanticMatcher } from "./semantic/semantic-matcher.ts"

/**
 * The semantic half of the response cache: the matcher's in-process index of stored queries, and,
 * when the answers are shared (Redis), the database table that carries the entries to other replicas
 * and over restarts. An entry's id is the exact key its answer is stored under, so the answer comes
 * from the same store as exact hits; an entry whose answer is gone (expired, cleared, evicted) is
 * dropped when a lookup finds it.
 */
export interface SemanticCache {
  readonly matcher: SemanticMatcher
  /**
   * The answer of a request that means the same, fetched with `get`, with the similarity; the query's
   * vector (for `store`) either way. Embedding failures are a miss (logged, counted).
   */
  readonly lookup: (q: SemanticQuery, get: (id: string) => Effect.Effect<CachedResponse | undefined, CacheStoreError>) => Effect.Effect<SemanticLookupResult>
  /** Adds the request's query as an entry naming the answer stored under `id` (logged, never failing). */
  readonly store: (q: SemanticQuery, id: string, vector: Float32Array | undefined, ttlMs: number) => Effect.Effect<void>
  /** Drops the entries of the partitions `matches` selects, here and in the database (`regex`: the same as a POSIX regular expression). */
  readonly clear: (matches: (partition: string) => boolean, regex: string) => Effect.Effect<number, CacheStoreError>
}

export interface SemanticLookupResult {
  readonly hit: { readonly entry: CachedResponse; readonly similarity: number } | undefined
  readonly vector: Float32Array | undefined
}

const lookups = counterFamily("response_cache_semantic_lookups_total", {
  description: "Semantic cache lookups by outcome: hit, miss, guard_rejected (a near query the same-meaning guard turned down), stale (its answer was gone), error."
})

export const makeSemanticCache = (matcher: SemanticMatcher, entries: SemanticEntryStore | undefined): SemanticCache => {
  const count = (result: string) => Metric.update(lookups({ result }), 1)
  const embedder: Embedder = matcher.embedder
  return {
    matcher,
    lookup: (q, get) =>
      Effect.gen(function*() {
        const found = yield* matcher.lookup(q.partition, q.query)
        if (found.rejected.length > 0) {
          yield* count("guard_rejected")
          yield* Effect.logDebug(`semantic cache: the guard turned down ${found.rejected.map((r) => `${r.reason} (${r.similarity.toFixed(3)})`).join(", ")}`)
        }
        if (found.hit === undefined) return yield* Effect.as(count("miss"), { hit: undefined, vector: found.vector })
        const entry = yield* get(found.hit.id)
        if (entry === undefined) {
          matcher.remove(found.hit.id)
          return yield* Effect.as(count("stale"), { hit: undefined, vector: found.vector })
        }
        matcher.touch(found.hit.id)
        yield* count("hit")
        return { hit: { entry, similarity: found.hit.similarity }, vector: found.vector }
      }).pipe(
        Effect.catch((e) =>
          Effect.andThen(count("error"), Effect.as(Effect.logWarning(`semantic cache: lookup failed, going on without it: ${e._tag === "EmbedderError" ? e.message : e.operation}`), { hit: undefined, vector: undefined })))
      ),
    store: (q, id, vector, ttlMs) =>
      (vector === undefined ? Effect.map(embedder.embed([q.query]), (vs) => vs[0]) : Effect.succeed(vector)).pipe(
        Effect.tap((v) => matcher.store(q.partition, id, q.query, v)),
        Effect.flatMap((v) =>
          entries === undefined
            ? Effect.void
            : entries.insert({ id, partition: q.partition, text: q.query, vector: v, embedder: embedder.id, expiresAt: new Date(Date.now() + ttlMs) })),
        Effect.catch((e) => Effect.logWarning(`semantic cache: storing an entry failed: ${e._tag === "EmbedderError" ? e.message : e.operation}`))
      ),
    clear: (matches, regex) =>
      Effect.map(
        entries === undefined ? Effect.succeed(0) : Effect.mapError(entries.removeMatching(regex), (e) => new CacheStoreError({ operation: `semantic ${e.operation}`, cause: e.cause })),
        (removed) => Math.max(removed, matcher.clearWhere(matches))
      )
  }
}

/**
 * Keeps a replica's index in step with the database: loads every unexpired entry of this embedder,
 * then polls for those added since (by any replica) every `intervalMs`, and purges expired rows now and
 * then. Failures are logged and retried at the next poll; the cache works from what it has meanwhile.
 */
export const syncSemanticEntries = (matcher: SemanticMatcher, entries: SemanticEntryStore, intervalMs: number) => {
  let afterSeq = 0
  let polls = 0
  const BATCH = 1000
  const pull: Effect.Effect<void> = Effect.gen(function*() {
    for (;;) {
      const rows = yield* entries.loadSince(matcher.embedder.id, afterSeq, BATCH)
      for (const row of rows) {
        yield* matcher.store(row.partition, row.id, row.text, row.vector)
        afterSeq = row.seq
      }
      if (rows.length < BATCH) break
    }
    if (++polls % 60 === 0) yield* entries.purgeExpired(new Date())
  }).pipe(Effect.catch((e) => Effect.logWarning(`semantic cache: syncing entries failed, retrying: ${e._tag === "EmbedderError" ? e.message : e.operation}`)))
  return Effect.forever(Effect.andThen(pull, Effect.sleep(intervalMs)))
}
