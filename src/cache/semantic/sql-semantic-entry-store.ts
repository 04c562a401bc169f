import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { type SemanticEntryStore, SemanticStoreError, type StoredSemanticEntry, vectorBytes, vectorOfBytes } from "./semantic-entry-store.ts"

interface Row {
  readonly seq: string | number
  readonly id: string
  readonly partition: string
  readonly embedder: string
  readonly query: string
  readonly vector: Uint8Array
  readonly expires_at: Date | null
}

const toEntry = (r: Row): StoredSemanticEntry => ({
  seq: Number(r.seq),
  id: r.id,
  partition: r.partition,
  embedder: r.embedder,
  text: r.query,
  vector: vectorOfBytes(r.vector),
  expiresAt: r.expires_at
})

/** `LIKE` pattern for a prefix: its own %, _ and \ escaped. */
const likePrefix = (prefix: string) => prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + "%"

/** Entries in the `semantic_cache_entries` table (migration 0005), PostgreSQL or PGlite. */
export const makeSqlSemanticEntryStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = (operation: string) => (cause: unknown) => new SemanticStoreError({ operation, cause })
  const count = (rows: ReadonlyArray<unknown>) => rows.length
  const store: SemanticEntryStore = {
    insert: (e) =>
      sql`INSERT INTO semantic_cache_entries (id, partition, embedder, query, vector, expires_at)
          VALUES (${e.id}, ${e.partition}, ${e.embedder}, ${e.text}, ${vectorBytes(e.vector)}, ${e.expiresAt})
          ON CONFLICT (id) DO UPDATE SET partition = EXCLUDED.partition, embedder = EXCLUDED.embedder, query = EXCLUDED.query,
            vector = EXCLUDED.vector, expires_at = EXCLUDED.expires_at, created_at = now(),
            seq = nextval(pg_get_serial_sequence('semantic_cache_entries', 'seq'))`.pipe(Effect.asVoid, Effect.mapError(fail("insert"))),
    loadSince: (embedder, afterSeq, limit) =>
      sql<Row>`SELECT seq, id, partition, embedder, query, vector, expires_at FROM semantic_cache_entries
          WHERE embedder = ${embedder} AND seq > ${afterSeq} AND (expires_at IS NULL OR expires_at > now())
          ORDER BY seq LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map(toEntry)), Effect.mapError(fail("loadSince"))),
    remove: (ids) =>
      ids.length === 0
        ? Effect.succeed(0)
        : sql`DELETE FROM semantic_cache_entries WHERE ${sql.in("id", ids)} RETURNING id`.pipe(Effect.map(count), Effect.mapError(fail("remove"))),
    removePrefix: (prefix) =>
      sql`DELETE FROM semantic_cache_entries WHERE partition LIKE ${likePrefix(prefix)} RETURNING id`.pipe(Effect.map(count), Effect.mapError(fail("removePrefix"))),
    removeMatching: (regex) =>
      sql`DELETE FROM semantic_cache_entries WHERE partition ~ ${regex} RETURNING id`.pipe(Effect.map(count), Effect.mapError(fail("removeMatching"))),
    purgeExpired: (now) =>
      sql`DELETE FROM semantic_cache_entries WHERE expires_at <= ${now} RETURNING id`.pipe(Effect.map(count), Effect.mapError(fail("purgeExpired")))
  }
  return store
})
