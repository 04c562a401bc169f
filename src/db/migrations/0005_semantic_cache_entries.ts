import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The semantic cache's entries (src/cache/semantic/sql-semantic-entry-store.ts): each replica loads them
 * into its in-process index and polls for new ones by `seq`. Vectors are float32 little-endian bytes,
 * searched in process, not in SQL: the machine's PostgreSQL has no pgvector, and an in-process scan of
 * 10k entries takes well under a millisecond (bench/semantic-cache.ts).
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE semantic_cache_entries (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    partition text NOT NULL,
    embedder text NOT NULL,
    query text NOT NULL,
    vector bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
  )`
  yield* sql`CREATE INDEX semantic_cache_entries_embedder_seq ON semantic_cache_entries (embedder, seq)`
  yield* sql`CREATE INDEX semantic_cache_entries_partition ON semantic_cache_entries (partition text_pattern_ops)`
  yield* sql`CREATE INDEX semantic_cache_entries_expires_at ON semantic_cache_entries (expires_at) WHERE expires_at IS NOT NULL`
})
