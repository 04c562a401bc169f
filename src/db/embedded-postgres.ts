import * as fs from "node:fs"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import { Data, Effect, type Scope } from "effect"
import { lockDataDir } from "./data-dir-lock.ts"
import type { EmbeddedPostgresInit, EmbeddedPostgresReply } from "./embedded-postgres-worker.ts"

/**
 * Postgres's buffer pool in the embedded database (INFERLINE_DB_SHARED_BUFFERS). PGlite keeps initdb's
 * 128MB, which Postgres touches as it starts: ~120 MB of the server's RSS before any query. The embedded
 * database holds keys, teams and the spend ledger, and its files are ordinary files the OS caches too.
 */
export const EMBEDDED_SHARED_BUFFERS = "16MB"

export { quoteIdentifier } from "./quote-identifier.ts"

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
 * port, so the same @effect/sql-pg client talks to it and to a real server. It runs in a worker thread
 * (embedded-postgres-worker.ts): its queries are CPU work that would otherwise stall the server's event
 * loop (a 500-row ledger batch took tens of milliseconds there). PGlite is one backend: the socket server
 * queues queries from all connections and keeps a transaction's queries together. `schema`, when given,
 * becomes the search_path of that single session, hence of every connection. The scope stops the socket
 * server and then closes PGlite (flushing it to disk).
 */
export const startEmbeddedPostgres = (options: {
  readonly dataDir: string
  readonly schema?: string | undefined
  readonly maxConnections: number
  readonly sharedBuffers?: string | undefined
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
    const sharedBuffers = options.sharedBuffers ?? EMBEDDED_SHARED_BUFFERS
    if (!/^[1-9]\d*(kB|MB|GB)$/.test(sharedBuffers)) {
      return yield* new EmbeddedPostgresError({ message: `shared_buffers ${JSON.stringify(sharedBuffers)} (INFERLINE_DB_SHARED_BUFFERS) is not a size such as 16MB, 256MB or 1GB.` })
    }
    if (!isInMemory(dataDir) && !fs.existsSync(path.join(dataDir, "PG_VERSION"))) yield* initializeDataDir(dataDir, sharedBuffers)
    const running = yield* Effect.acquireRelease(startWorker({ dataDir, schema: options.schema, maxConnections: options.maxConnections, sharedBuffers }, dataDir), stopWorker)
    return { host: "127.0.0.1", port: running.port }
  })

interface RunningWorker {
  readonly worker: Worker
  readonly port: number
}

const databaseThread = (init: EmbeddedPostgresInit): Worker => {
  // Run from source (type stripping) or from the built dist/ (plain JS).
  const entry = import.meta.url.endsWith(".ts") ? "./embedded-postgres-worker.ts" : "./embedded-postgres-worker.js"
  return new Worker(new URL(entry, import.meta.url), { workerData: init })
}

/**
 * Creates a new on-disk database in a thread of its own that ends once it is done. PGlite runs initdb in
 * a second PGlite instance, whose WebAssembly memory (~150 MB touched) stayed resident in the serving
 * thread: a server that then sits idle collects no garbage. Ending the thread returns it to the OS.
 */
const initializeDataDir = (dataDir: string, sharedBuffers: string): Effect.Effect<void, EmbeddedPostgresError> =>
  Effect.callback<void, EmbeddedPostgresError>((resume) => {
    const worker = databaseThread({ dataDir, maxConnections: 1, sharedBuffers, initOnly: true })
    let outcome: EmbeddedPostgresReply | Error | null = null
    worker.once("message", (reply: EmbeddedPostgresReply) => (outcome = reply))
    worker.once("error", (e) => (outcome ??= e))
    worker.once("exit", (code) => {
      if (outcome === "initialized") return resume(Effect.void)
      const cause = outcome instanceof Error ? outcome : new Error(typeof outcome === "object" && outcome !== null && "error" in outcome ? outcome.error : `the thread exited (code ${code})`)
      resume(Effect.fail(new EmbeddedPostgresError({ message: `Cannot open the embedded database in ${dataDir}.`, cause })))
    })
  })

const startWorker = (init: EmbeddedPostgresInit, dataDir: string): Effect.Effect<RunningWorker, EmbeddedPostgresError> =>
  Effect.callback<RunningWorker, EmbeddedPostgresError>((resume) => {
    const worker = databaseThread(init)
    let settled = false
    const fail = (message: string, cause: unknown) => {
      if (settled) return
      settled = true
      void worker.terminate()
      resume(Effect.fail(new EmbeddedPostgresError({ message, cause })))
    }
    worker.once("message", (reply: EmbeddedPostgresReply) => {
      if (typeof reply === "object" && "port" in reply) {
        settled = true
        return resume(Effect.succeed({ worker, port: reply.port }))
      }
      if (typeof reply !== "object") return fail("The embedded database's thread answered unexpectedly.", reply)
      const message = reply.stage === "open"
        ? `Cannot open the embedded database in ${dataDir}.`
        : reply.stage === "schema"
        ? `Cannot select the schema ${init.schema}.`
        : "Cannot start the embedded database's socket server."
      fail(message, new Error(reply.error))
    })
    worker.once("error", (e) => fail("The embedded database's thread failed.", e))
    worker.once("exit", (code) => fail(`The embedded database's thread exited (code ${code}).`, undefined))
  })

/** Stops the server and closes PGlite in the worker, then ends the thread (at once if it does not answer). */
const stopWorker = ({ worker }: RunningWorker): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    let stopping = false
    const done = () => {
      if (stopping) return
      stopping = true
      clearTimeout(timer)
      void worker.terminate().finally(() => resume(Effect.void))
    }
    const timer = setTimeout(done, 10_000)
    worker.once("message", (reply: EmbeddedPostgresReply) => reply === "stopped" && done())
    worker.once("exit", done)
    worker.postMessage("stop")
  })
