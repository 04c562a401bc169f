/**
 * The embedded database's own thread: PGlite (Postgres compiled to WASM) and its socket server run here,
 * so a query — a ledger batch, a dashboard aggregate — never runs on the server's event loop. The main
 * thread only speaks the wire protocol to it over 127.0.0.1 (see embedded-postgres.ts).
 * Messages: in, "stop"; out, `{ port }` once listening, `{ stage, error }` if starting failed, "stopped";
 * with `initOnly`, "initialized" (or `{ stage, error }`) and the thread ends.
 */
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { parentPort, workerData } from "node:worker_threads"
import { quoteIdentifier } from "./quote-identifier.ts"

export interface EmbeddedPostgresInit {
  readonly dataDir: string
  readonly schema?: string | undefined
  readonly maxConnections: number
  /** Postgres's shared_buffers, e.g. "16MB". */
  readonly sharedBuffers: string
  /** Only create the database (initdb) and end the thread: see initializeDataDir in embedded-postgres.ts. */
  readonly initOnly?: boolean
}

export type EmbeddedPostgresReply =
  | { readonly port: number }
  | { readonly stage: "open" | "schema" | "listen"; readonly error: string }
  | "initialized"
  | "stopped"

const init = workerData as EmbeddedPostgresInit
const reply = (message: EmbeddedPostgresReply) => parentPort!.postMessage(message)
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

const open = () => PGlite.create({ dataDir: init.dataDir, startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${init.sharedBuffers}`] })

/** Creates the database and ends: the thread's memory, initdb's included, goes back to the OS with it. */
const initializeOnly = async () => {
  try {
    await (await open()).close()
    reply("initialized")
  } catch (e) {
    reply({ stage: "open", error: errorText(e) })
  }
  // The thread ends when nothing is left to do; should PGlite leave a handle open, it ends anyway.
  setTimeout(() => process.exit(0), 1000).unref()
}

/** Opens the database, serves it on a loopback port, and stops on "stop". */
const serve = async () => {
  let db: PGlite | undefined
  let server: PGLiteSocketServer | undefined
  let stage: "open" | "schema" | "listen" = "open"
  try {
    db = await open()
    if (init.schema !== undefined) {
      stage = "schema"
      const schema = quoteIdentifier(init.schema)
      await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`)
    }
    stage = "listen"
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: init.maxConnections })
    await server.start()
    // getServerConn() is "host:port" once listening (port 0 has been replaced by the one the OS chose).
    reply({ port: Number(server.getServerConn().split(":").pop()) })
  } catch (e) {
    reply({ stage, error: errorText(e) })
  }
  parentPort!.on("message", async (message: unknown) => {
    if (message !== "stop") return
    // The socket server first (no new queries), then PGlite (flushes it to disk).
    await server?.stop().catch(() => {})
    await db?.close().catch(() => {})
    reply("stopped")
  })
}

await (init.initOnly === true ? initializeOnly() : serve())
