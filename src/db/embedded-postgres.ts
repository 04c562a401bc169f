import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import * as fs from "node:fs"
import { Data, Effect, type Scope } from "effect"
import { lockDataDir } from "./data-dir-lock.ts"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where the embedded server listens; PGlite accepts any user and database name. */
export interface EmbeddedPostgres {
  readonly host: string
  readonly port: number
}

/** `memory://` keeps the database in memory (tests); anything else is a directory on disk. */
const isInMemory = (dataDir: string) => dataDir.startsWith("memory://")

/**
 * PGlite (Postgres compiled to WASM) served over the Postgres wire protocol on 127.0.0.1 and an ephemeral
 * port, so the same @effect/sql-pg client talks to it and to a real server. PGlite is one backend: the
 * socket server queues queries from all connections and keeps a transaction's queries together.
 * `schema`, when given, becomes the search_path of that single session, hence of every connection.
 * The scope stops the socket server and then closes PGlite (flushing it to disk).
 */
export const startEmbeddedPostgres = (options: {
  readonly dataDir: string
  readonly schema?: string | undefined
  readonly maxConnections: number
}): Effect.Effect<EmbeddedPostgres, EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function*() {
    const { dataDir } = options
    if (!isInMemory(dataDir)) {
      yield* Effect.try({
        try: () => fs.mkdirSync(dataDir, { recursive: true }),
        catch: (cause) => new EmbeddedPostgresError({ message: `Cannot create the data directory ${dataDir}.`, cause })
      })
      yield* Effect.acquireRelease(
        Effect.try({
          try: () => lockDataDir(dataDir),
          catch: (cause) => new EmbeddedPostgresError({ message: (cause as Error).message, cause })
        }),
        (unlock) => Effect.sync(unlock)
      )
    }
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create({ dataDir }),
        catch: (cause) => new EmbeddedPostgresError({ message: `Cannot open the embedded database in ${dataDir}.`, cause })
      }),
      (db) => Effect.promise(() => db.close()).pipe(Effect.ignore)
    )
    if (options.schema !== undefined) {
      const schema = quoteIdentifier(options.schema)
      yield* Effect.tryPromise({
        try: () => db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`),
        catch: (cause) => new EmbeddedPostgresError({ message: `Cannot select the schema ${options.schema}.`, cause })
      })
    }
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: options.maxConnections })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.start(),
        catch: (cause) => new EmbeddedPostgresError({ message: "Cannot start the embedded database's socket server.", cause })
      }),
      () => Effect.promise(() => server.stop()).pipe(Effect.ignore)
    )
    // getServerConn() is "host:port" once listening (port 0 has been replaced by the one the OS chose).
    const port = Number(server.getServerConn().split(":").pop())
    return { host: "127.0.0.1", port }
  })

/** A Postgres identifier in double quotes, so any schema name is taken literally. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`
