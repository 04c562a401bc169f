import { NodeServices } from "@effect/platform-node"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { Config, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { makeDependencyGuard } from "../effect/dependency-guard.ts"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { DatabaseGuard, isDatabaseOutage } from "./database-guard.ts"
import { quoteIdentifier, startEmbeddedPostgres } from "./embedded-postgres.ts"
import { migrations } from "./migrations.ts"

export interface DatabaseOptions {
  /** A PostgreSQL URL (`DATABASE_URL`). Absent: embedded PGlite under `dataDir`. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** Where the embedded database lives (default `./.inferline/pgdata`); `memory://` keeps it in memory. */
  readonly dataDir?: string | undefined
  /** The embedded database's buffer pool, in Postgres's units (default 16MB; see EMBEDDED_SHARED_BUFFERS). */
  readonly sharedBuffers?: string | undefined
  /** Schema for Inferline's tables (created if missing; default: the server's search_path, `public`). */
  readonly schema?: string | undefined
  /** Connections in the pool (default 10). */
  readonly maxConnections?: number | undefined
  /**
   * Longest a guarded query (key lookup, budget read, ledger batch, /spend) and a connection attempt may
   * take before the database counts as down (default 5 s): see DatabaseGuard.
   */
  readonly timeout?: Duration.Input | undefined
  /** How long startup keeps retrying a database it cannot reach before giving up (default 60 s). */
  readonly startupWait?: Duration.Input | undefined
}

export const DEFAULT_DATA_DIR = "./.inferline/pgdata"
export const DEFAULT_DATABASE_TIMEOUT = "5 seconds"
export const DEFAULT_STARTUP_WAIT = "60 seconds"

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
    // A frozen server accepts the TCP connection and never answers: connecting must time out too.
    const connectTimeout = options.timeout ?? DEFAULT_DATABASE_TIMEOUT
    return PgClient.layer({ url, maxConnections, startupParameters, connectTimeout }).pipe(
      Layer.tap(() => Effect.logInfo(`database: PostgreSQL at ${describeDatabaseUrl(Redacted.value(url))}`))
    )
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR
  // The embedded server is acquired in this layer's scope before the client, so on shutdown the client's
  // pool closes first, then the socket server, then PGlite.
  return Layer.unwrap(
    Effect.gen(function*() {
      const { host, port } = yield* startEmbeddedPostgres({ dataDir, schema: options.schema, maxConnections, sharedBuffers: options.sharedBuffers })
      yield* Effect.logInfo(`database: embedded PGlite in ${dataDir} (served on ${host}:${port})`)
      return PgClient.layer({ host, port, username: "postgres", database: "postgres", maxConnections })
    })
  )
}

/**
 * Creates the schema if needed (PgMigrator cannot create tables in a missing one), then migrates. A
 * database that cannot be reached yet (it is starting along with us, say) is retried with exponential
 * backoff (0.25 s doubling to 5 s) for `startupWait`, logged once every 10 s, then startup fails with
 * the last error.
 */
const migrationsLayer = (schema: string | undefined, startupWait: Duration.Input) =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const waitMs = Duration.toMillis(Duration.fromInputUnsafe(startupWait))
      const deadline = Date.now() + waitMs
      const log = rateLimitedLog()
      const migrate = Effect.gen(function*() {
        if (schema !== undefined) yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`)
        return yield* PgMigrator.run({ loader: migrations })
      })
      const applied = yield* migrate.pipe(
        Effect.tapError((e) =>
          isDatabaseOutage(e) && Date.now() < deadline
            ? log("startup", "Warning", `database: not reachable yet (${e.message}); retrying for up to ${Math.ceil((deadline - Date.now()) / 1000)} s more (INFERLINE_DB_STARTUP_WAIT_MS)`)
            : Effect.void
        ),
        Effect.retry({
          schedule: Schedule.exponential("250 millis").pipe(Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5))))),
          while: (e) => isDatabaseOutage(e) && Date.now() < deadline
        }),
        Effect.mapError((e) => (isDatabaseOutage(e) && waitMs > 0 ? new Error(`the database could not be reached in ${Math.round(waitMs / 1000)} s: ${e.message}`, { cause: e }) : e))
      )
      if (applied.length > 0) yield* Effect.logInfo(`database: applied migrations ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    })
  ).pipe(Layer.provide(NodeServices.layer))

/** The guard the database's users run their queries through (timeout, fail-fast while it is down). */
const guardLayer = (name: string, timeout: Duration.Input) =>
  Layer.effect(DatabaseGuard, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return makeDependencyGuard({ name, timeout, isOutage: isDatabaseOutage, probe: sql`SELECT 1` })
  }))

/**
 * SqlClient (and PgClient) on a migrated database: PostgreSQL when `url` is given, otherwise embedded
 * PGlite served over a loopback socket, so `npm start` needs nothing installed and keeps its data across
 * restarts. Closing the layer's scope closes the pool and, when embedded, the socket server and PGlite.
 */
export const databaseLayer = (options: DatabaseOptions = {}) =>
  Layer.mergeAll(migrationsLayer(options.schema, options.startupWait ?? DEFAULT_STARTUP_WAIT), guardLayer(options.url === undefined ? "the embedded database" : "PostgreSQL", options.timeout ?? DEFAULT_DATABASE_TIMEOUT)).pipe(
    Layer.provideMerge(clientLayer(options))
  )

/**
 * `DATABASE_URL`, `INFERLINE_DATA_DIR`, `INFERLINE_DB_TIMEOUT_MS` (default 5000) and
 * `INFERLINE_DB_STARTUP_WAIT_MS` (default 60000) from the environment (explicit options win).
 */
export const databaseLayerFromConfig = (overrides: DatabaseOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
      const dataDir = yield* Config.option(Config.String("INFERLINE_DATA_DIR"))
      const timeout = yield* Config.option(Config.Int("INFERLINE_DB_TIMEOUT_MS"))
      const startupWait = yield* Config.option(Config.Int("INFERLINE_DB_STARTUP_WAIT_MS"))
      const sharedBuffers = yield* Config.option(Config.String("INFERLINE_DB_SHARED_BUFFERS"))
      return databaseLayer({
        url: Option.getOrUndefined(url),
        dataDir: Option.getOrUndefined(dataDir),
        timeout: Option.getOrUndefined(timeout),
        startupWait: Option.getOrUndefined(startupWait),
        sharedBuffers: Option.getOrUndefined(sharedBuffers),
        ...definedOnly(overrides)
      })
    })
  )

const definedOnly = <A extends object>(a: A): Partial<A> =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Partial<A>
