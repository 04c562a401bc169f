import { Data, type Effect } from "effect"
import type { SemanticEntry } from "./semantic-index.ts"

/**
 * Where a semantic cache's entries outlive the process and reach the other replicas: each replica
 * loads the entries into its in-process index at start and then polls for those added since (`seq`
 * only grows). Deletions need no broadcast: a replica whose index still holds a deleted entry finds its
 * response gone when it fetches it by id, and drops the entry (see semantic-index.ts).
 */
export interface StoredSemanticEntry extends SemanticEntry {
  /** Insertion order over all replicas (a later `insert` of the same id gets a new one). */
  readonly seq: number
  readonly embedder: string
  readonly expiresAt: Date | null
}

export interface SemanticEntryStore {
  readonly insert: (entry: SemanticEntry & { readonly embedder: string; readonly expiresAt: Date | null }) => Effect.Effect<void, SemanticStoreError>
  /** Unexpired entries of one embedder with seq > `afterSeq`, in seq order, at most `limit`. */
  readonly loadSince: (embedder: string, afterSeq: number, limit: number) => Effect.Effect<ReadonlyArray<StoredSemanticEntry>, SemanticStoreError>
  readonly remove: (ids: ReadonlyArray<string>) => Effect.Effect<number, SemanticStoreError>
  /** Deletes the entries of every partition whose key starts with `prefix` ("" deletes all). */
  readonly removePrefix: (prefix: string) => Effect.Effect<number, SemanticStoreError>
  /** Deletes the entries of every partition matching a POSIX regular expression. */
  readonly removeMatching: (regex: string) => Effect.Effect<number, SemanticStoreError>
  readonly purgeExpired: (now: Date) => Effect.Effect<number, SemanticStoreError>
}

export class SemanticStoreError extends Data.TaggedError("SemanticStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** A vector as the bytes of its float32 values, little-endian (the table's `vector` column). */
export const vectorBytes = (v: Float32Array): Uint8Array => {
  const bytes = new Uint8Array(v.length * 4)
  const view = new DataView(bytes.buffer)
  v.forEach((x, i) => view.setFloat32(i * 4, x, true))
  return bytes
}

export const vectorOfBytes = (bytes: Uint8Array): Float32Array => {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`a vector's bytes come in fours, got ${bytes.byteLength}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const v = new Float32Array(bytes.byteLength / 4)
  for (let i = 0; i < v.length; i++) v[i] = view.getFloat32(i * 4, true)
  return v
}
