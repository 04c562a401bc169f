import { PgClient } from "@effect/sql-pg"
import { it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { databaseLayer, describeDatabaseUrl } from "../../src/db/database.ts"

// The embedded database as `npm start` uses it: on disk, kept across restarts, one process at a time,
// and nothing left listening once its scope has closed.

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("connect", () => (socket.destroy(), resolve(true)))
    socket.on("error", () => resolve(false))
  })

describe("embedded PGlite database", () => {
  it.live("keeps its data across restarts, locks its directory, and closes cleanly", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-pgdata-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))

      const scope = yield* Scope.make()
      const sql = Context.get(yield* Layer.buildWithScope(databaseLayer({ dataDir }), scope), PgClient.PgClient)
      yield* sql`INSERT INTO teams (id, name) VALUES (${crypto.randomUUID()}, 'persisted')`
      const port = sql.config.port!
      expect(yield* Effect.promise(() => portOpen(port))).toBe(true)

      // Another process (here: a second open) cannot use the same directory meanwhile.
      const second = yield* Effect.exit(Effect.scoped(Layer.build(databaseLayer({ dataDir }))))
      expect(Exit.isFailure(second)).toBe(true)
      expect(String(Exit.isFailure(second) ? JSON.stringify(second.cause) : "")).toContain("in use by process")
      expect(Number(fs.readFileSync(path.join(dataDir, "inferline.lock"), "utf8"))).toBe(process.pid)

      // Closing the scope closes the pool, the socket server and PGlite, and releases the lock.
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.promise(() => portOpen(port))).toBe(false)
      expect(fs.existsSync(path.join(dataDir, "inferline.lock"))).toBe(false)

      const names = yield* Effect.scoped(Effect.gen(function*() {
        const again = Context.get(yield* Layer.build(databaseLayer({ dataDir })), PgClient.PgClient)
        return (yield* again<{ name: string }>`SELECT name FROM teams`).map((r) => r.name)
      }))
      expect(names).toEqual(["persisted"])
    }), { timeout: 120_000 })

  it.live("keeps a small buffer pool (16MB, or INFERLINE_DB_SHARED_BUFFERS's) and refuses a bad one by name", () =>
    Effect.gen(function*() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-pgdata-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
      const sharedBuffers = (options: { sharedBuffers?: string }) => Effect.scoped(Effect.gen(function*() {
        const sql = Context.get(yield* Layer.build(databaseLayer({ dataDir, ...options })), PgClient.PgClient)
        return (yield* sql<{ shared_buffers: string }>`SHOW shared_buffers`)[0].shared_buffers
      }))
      // The first open creates the database (in a thread of its own), the second finds it.
      expect(yield* sharedBuffers({})).toBe("16MB")
      expect(yield* sharedBuffers({ sharedBuffers: "64MB" })).toBe("64MB")
      const bad = yield* Effect.exit(sharedBuffers({ sharedBuffers: "lots" }))
      expect(Exit.isFailure(bad)).toBe(true)
      expect(JSON.stringify(Exit.isFailure(bad) ? bad.cause : "")).toContain("shared_buffers")
    }), { timeout: 120_000 })

  it("never logs a database password", () => {
    expect(describeDatabaseUrl("postgres://user:s3cret@db:5432/app")).toBe("postgres://user@db:5432/app")
  })
})
