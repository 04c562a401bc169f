import { Data, type Effect } from "effect"

/**
 * Turns texts into unit vectors for semantic matching: one vector per text, in the order given, all of
 * the embedder's `dimensions` (cosine similarity is then a dot product). The same text always gives the
 * same vector from the same embedder; vectors of different embedders (`id`) are never compared, so an
 * index keeps one embedder's vectors only.
 */
export interface Embedder {
  /** Names the embedder and its model, e.g. "builtin:glove-sif-100d" or "openai:text-embedding-3-small". */
  readonly id: string
  /** The vectors' length; for a deployment, known once it has answered (0 before). */
  readonly dimensions: () => number
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Float32Array>, EmbedderError>
}

/**
 * Embedding failed: `unavailable` (the deployment could not be reached, timed out or answered with an
 * error status), `bad_response` (it answered with something that is not embeddings of the texts sent).
 * A semantic cache treats either as a miss: the request goes on without the cache.
 */
export class EmbedderError extends Data.TaggedError("EmbedderError")<{
  readonly reason: "unavailable" | "bad_response"
  readonly message: string
  /** For the log only: upstream addresses or raw text. */
  readonly detail?: string | undefined
}> {}

/** Cosine similarity of two vectors of the same length (0 when either is all zeros). */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0, na = 0, nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

/** The vector scaled to length 1 (float64 sums, then float32), or all zeros when it has no length. */
export const unitVector = (v: ArrayLike<number>): Float32Array => {
  let norm = 0
  for (let i = 0; i < v.length; i++) norm += v[i] * v[i]
  const out = new Float32Array(v.length)
  if (norm === 0) return out
  const inv = 1 / Math.sqrt(norm)
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv
  return out
}
