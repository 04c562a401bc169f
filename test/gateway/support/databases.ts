import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { databaseLayer } from "../../../src/db/database.ts"
import { quoteIdentifier } from "../../../src/db/embedded-postgres.ts"

export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

/** A name no other test file or run uses, for schemas and Redis prefixes. */
export const uniqueName = (label: string) => `${label}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

/** The real server, in a schema of its own that is dropped when the layer closes (before its pool does). */
const postgres = () => {
  const schema = uniqueName("gw_test")
  const dropOnClose = Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`)))
    })
  )
  return dropOnClose.pipe(Layer.provideMerge(databaseLayer({ url: DATABASE_URL, schema, maxConnections: 4 })), Layer.orDie)
}

/** Embedded PGlite in memory, served over its loopback socket like `npm start` does. */
const pglite = () => databaseLayer({ dataDir: "memory://", maxConnections: 4 }).pipe(Layer.orDie)

/** Both backends the storage suites run against: the same SQL must work on each. */
export const databaseBackends = [
  { name: "PostgreSQL", layer: postgres },
  { name: "PGlite", layer: pglite }
] as const
