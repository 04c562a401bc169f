import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { databaseLayer } from "../../../src/db/database.ts"
import { quoteIdentifier } from "../../../src/db/embedded-postgres.ts"
import { DATABASE_URL, uniqueName } from "../../gateway/support/databases.ts"

export { DATABASE_URL, uniqueName }

/** The real server, in a migrated schema of this test's own, dropped when the layer closes. */
export const postgresSchemaLayer = (schema = uniqueName("obs_test")) => {
  const dropOnClose = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`)))
  }))
  return dropOnClose.pipe(Layer.provideMerge(databaseLayer({ url: DATABASE_URL, schema, maxConnections: 4 })), Layer.orDie)
}

/**
 * Counts INSERT statements on spend_logs from inside Postgres (a statement-level trigger), so the count
 * does not depend on the code under test reporting its own writes.
 */
export const countInsertStatements = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE TABLE insert_statements (n integer NOT NULL)`)
  yield* sql.unsafe(`INSERT INTO insert_statements VALUES (0)`)
  yield* sql.unsafe(`CREATE FUNCTION count_insert_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE insert_statements SET n = n + 1; RETURN NULL; END $$`)
  yield* sql.unsafe(`CREATE TRIGGER spend_logs_insert_statements AFTER INSERT ON spend_logs FOR EACH STATEMENT EXECUTE FUNCTION count_insert_statement()`)
  return sql<{ n: number }>`SELECT n FROM insert_statements`.pipe(Effect.map((rows) => rows[0].n), Effect.orDie)
})

export const tempDir = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `inferline-${label}-`))
