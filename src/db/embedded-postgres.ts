import * as fs from "node:fs"
import { Worker } from "node:worker_threads"
import { Data, Effect, type Scope } from "effect"
import { lockDataDir } from "./data-dir-lock.ts"
import type { EmbeddedPostgresInit, EmbeddedPostgresReply } from "./embedded-postgres-worker.ts"

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
    const running = yield* Effect.acquireRelease(startWorker({ dataDir, schema: options.schema, maxConnections: options.maxConnections }, dataDir), stopWorker)
    return { host: "127.0.0.1", port: running.port }
  })

interface RunningWorker {
  readonly worker: Worker
  readonly port: number
}

const startWorker = (init: EmbeddedPostgresInit, dataDir: string): Effect.Effect<RunningWorker, EmbeddedPostgresError> =>
  Effect.callback<RunningWorker, EmbeddedPostgresError>((resume) => {
    // Run from source (type stripping) or from the built dist/ (plain JS).
    const entry = import.meta.url.endsWith(".ts") ? "./embedded-postgres-worker.ts" : "./embedded-postgres-worker.js"
    const worker = new Worker(new URL(entry, import.meta.url), { workerData: init })
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
