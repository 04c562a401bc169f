import { NodeServices } from "@effect/platform-node"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { quoteIdentifier, startEmbeddedPostgres } from "./embedded-postgres.ts"
import { migrations } from "./migrations.ts"

export interface DatabaseOptions {
  /** A PostgreSQL URL (`DATABASE_URL`). Absent: embedded PGlite under `dataDir`. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** Where the embedded database lives (default `./.inferline/pgdata`); `memory://` keeps it in memory. */
  readonly dataDir?: string | undefined
  /** Schema for Inferline's tables (created if missing; default: the server's search_path, `public`). */
  readonly schema?: string | undefined
  /** Connections in the pool (default 10). */
  readonly maxConnections?: number | undefined
}

export const DEFAULT_DATA_DIR = "./.inferline/pgdata"

/** `postgres://user@host:port/db`, without the password: safe to log. */
export const describeDatabaseUrl = (url: string): string => {
  try {
    const u = new URL(url)
    u.password = ""
    return u.toString()
  } catch {
    return "(unparseable DATABASE_URL)"
  }
}

const clientLayer = (options: DatabaseOptions) => {
  const maxConnections = options.maxConnections ?? 10
  const startupParameters = options.schema === undefined ? undefined : { search_path: options.schema }
  if (options.url !== undefined) {
    const url = Redacted.isRedacted(options.url) ? options.url : Redacted.make(options.url)
    return PgClient.layer({ url, maxConnections, startupParameters }).pipe(
      Layer.tap(() => Effect.logInfo(`database: PostgreSQL at ${describeDatabaseUrl(Redacted.value(url))}`))
    )
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR
  // The embedded server is acquired in this layer's scope before the client, so on shutdown the client's
  // pool closes first, then the socket server, then PGlite.
  return Layer.unwrap(
    Effect.gen(function*() {
      const { host, port } = yield* startEmbeddedPostgres({ dataDir, schema: options.schema, maxConnections })
      yield* Effect.logInfo(`database: embedded PGlite in ${dataDir} (served on ${host}:${port})`)
      return PgClient.layer({ host, port, username: "postgres", database: "postgres", maxConnections })
    })
  )
}

/** Creates the schema if needed (PgMigrator cannot create tables in a missing one), then migrates. */
const migrationsLayer = (schema: string | undefined) =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      if (schema !== undefined) yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`)
      const applied = yield* PgMigrator.run({ loader: migrations })
      if (applied.length > 0) yield* Effect.logInfo(`database: applied migrations ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    })
  ).pipe(Layer.provide(NodeServices.layer))

/**
 * SqlClient (and PgClient) on a migrated database: PostgreSQL when `url` is given, otherwise embedded
 * PGlite served over a loopback socket, so `npm start` needs nothing installed and keeps its data across
 * restarts. Closing the layer's scope closes the pool and, when embedded, the socket server and PGlite.
 */
export const databaseLayer = (options: DatabaseOptions = {}) =>
  migrationsLayer(options.schema).pipe(Layer.provideMerge(clientLayer(options)))

/** `DATABASE_URL` and `INFERLINE_DATA_DIR` from the environment (explicit options win). */
export const databaseLayerFromConfig = (overrides: DatabaseOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
      const dataDir = yield* Config.option(Config.String("INFERLINE_DATA_DIR"))
      return databaseLayer({ url: Option.getOrUndefined(url), dataDir: Option.getOrUndefined(dataDir), ...definedOnly(overrides) })
    })
  )

const definedOnly = <A extends object>(a: A): Partial<A> =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Partial<A>
