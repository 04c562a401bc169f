import { Effect } from "effect"
import type { Embedder, EmbedderError } from "./embedder.ts"
import { type GuardReason, sameMeaningGuard } from "./same-meaning-guard.ts"
import { SemanticIndex } from "./semantic-index.ts"

/**
 * A semantic cache's matching: embed the normalized query, take the nearest stored queries of the same
 * partition whose similarity reaches the threshold, and accept the first that the guard finds to mean
 * the same. Storage of the responses is the caller's (entries carry its ids).
 */
export interface SemanticMatcherOptions {
  /** Cosine similarity a hit needs (default DEFAULT_SEMANTIC_THRESHOLD, chosen by bench/semantic-cache.ts for the built-in embedder). */
  readonly threshold?: number
  /** How many candidates above the threshold the guard may look at (default 4). */
  readonly candidates?: number
  /** The most entries kept, all partitions together (LRU; default 10,000). */
  readonly maxEntries?: number
}

/** The built-in embedder's threshold: bench/semantic-cache.ts's pick on test/fixtures/semantic-cache-pairs.json. */
export const DEFAULT_SEMANTIC_THRESHOLD = 0.85

export interface SemanticLookup {
  /** The accepted entry, if any. */
  readonly hit: { readonly id: string; readonly text: string; readonly similarity: number } | undefined
  /** Candidates above the threshold that the guard turned down (for logs and metrics). */
  readonly rejected: ReadonlyArray<{ readonly id: string; readonly similarity: number; readonly reason: GuardReason }>
  /** The query's vector, to pass to `store` on a miss (one embedding per request). */
  readonly vector: Float32Array
}

export interface SemanticMatcher {
  readonly embedder: Embedder
  readonly threshold: number
  readonly lookup: (partition: string, query: string) => Effect.Effect<SemanticLookup, EmbedderError>
  /** Adds an entry; with `vector` from the lookup, nothing is embedded again. */
  readonly store: (partition: string, id: string, query: string, vector?: Float32Array) => Effect.Effect<void, EmbedderError>
  /** Marks an entry used (call on a hit served). */
  readonly touch: (id: string) => void
  readonly remove: (id: string) => boolean
  readonly clearPartition: (partition: string) => number
  readonly clearPrefix: (prefix: string) => number
  readonly clearWhere: (matches: (partition: string) => boolean) => number
  /** The index, once the first vector has fixed its dimensions. */
  readonly index: () => SemanticIndex | undefined
}

export const makeSemanticMatcher = (embedder: Embedder, options: SemanticMatcherOptions = {}): SemanticMatcher => {
  const threshold = options.threshold ?? DEFAULT_SEMANTIC_THRESHOLD
  const k = options.candidates ?? 4
  const maxEntries = options.maxEntries ?? 10_000
  let index: SemanticIndex | undefined
  const indexFor = (vector: Float32Array) => (index ??= new SemanticIndex(vector.length, maxEntries))
  const embedOne = (text: string) => Effect.map(embedder.embed([text]), (vectors) => vectors[0])

  const lookup = (partition: string, query: string) =>
    Effect.map(embedOne(query), (vector): SemanticLookup => {
      const rejected: Array<{ id: string; similarity: number; reason: GuardReason }> = []
      for (const candidate of index?.nearest(partition, vector, k, threshold) ?? []) {
        const verdict = sameMeaningGuard(query, candidate.text)
        if (verdict.same) return { hit: candidate, rejected, vector }
        rejected.push({ id: candidate.id, similarity: candidate.similarity, reason: verdict.reason })
      }
      return { hit: undefined, rejected, vector }
    })

  return {
    embedder,
    threshold,
    lookup,
    store: (partition, id, query, vector) =>
      Effect.map(vector === undefined ? embedOne(query) : Effect.succeed(vector), (v) => indexFor(v).add({ id, partition, text: query, vector: v })),
    touch: (id) => index?.touch(id),
    remove: (id) => index?.remove(id) ?? false,
    clearPartition: (partition) => index?.clearPartition(partition) ?? 0,
    clearPrefix: (prefix) => index?.clearPrefix(prefix) ?? 0,
    clearWhere: (matches) => index?.clearWhere(matches) ?? 0,
    index: () => index
  }
}
