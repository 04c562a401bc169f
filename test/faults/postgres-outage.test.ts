/**
 * Issue 16, item 7 (Postgres) and item 11 (its log and startup): `inferline serve` against a Postgres of
 * the test's own, frozen (SIGSTOP to its process group: every backend hangs with its connections open)
 * and stopped (fast shutdown), under requests. The outcome documented in the README's "Failure
 * behaviour": keys already looked up are served from memory (grace period), unknown keys get a 503 at
 * once (after the first request waited out the timeout), every answered request's ledger row reaches
 * the database once it is back, and the log says so a few times, not once per request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sleep } from "../support/free-port.ts"
import { adminCall, complete, createKey, spawnInferline } from "./support/inferline-process.ts"
import { cachedAndUncachedKeys, codeOf, DB_TIMEOUT_MS, repeatFor, serveOnPrivateServices, slowest, statuses, warnings } from "./support/outage-server.ts"
import { PrivatePostgres } from "./support/private-postgres.ts"

let pg: PrivatePostgres
beforeAll(async () => {
  pg = await PrivatePostgres.create()
})
afterAll(() => pg?.close())

/** Waits until `check` passes (polling), or fails with its last error after `ms`. */
const eventually = async <A>(ms: number, check: () => Promise<A>): Promise<A> => {
  const end = Date.now() + ms
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() > end) throw e
      await sleep(200)
    }
  }
}

describe("Postgres outages", () => {
  it("frozen for 10 s: cached keys served throughout, unknown keys refused fast, no request waits longer than the timeout, no row lost", async () => {
    const { server } = await serveOnPrivateServices(pg, undefined)
    try {
      const { cached, uncached } = await cachedAndUncachedKeys(server)
      pg.freeze()
      // Thawed by the clock, not by the requests (on a server without timeouts they hang until then).
      const thawed = sleep(10_000).then(() => pg.thaw())
      const marker = server.output().length
      // Past the key cache's 5 s TTL: lookups must go to the frozen database, and must not wait on it.
      const [known, unknown] = await Promise.all([
        repeatFor(9000, 250, () => complete(server.url, cached.key, { headers: { "x-request-id": `frozen-${Date.now()}` } })),
        repeatFor(9000, 1000, () => complete(server.url, uncached.key))
      ])
      await thawed
      expect(statuses(known)).toEqual(known.map(() => 200))
      expect(slowest(known)).toBeLessThan(DB_TIMEOUT_MS + 1500)
      expect(statuses(unknown)).toEqual(unknown.map(() => 503))
      expect(unknown.map(codeOf)).toEqual(unknown.map(() => "gateway_unavailable"))
      // The first one waited for the timeout; the others were refused at once.
      expect(slowest(unknown)).toBeLessThan(DB_TIMEOUT_MS + 1500)
      expect(slowest(unknown.slice(1))).toBeLessThan(500)

      // Back: the unknown key works again, and every answered request has its ledger row.
      await eventually(10_000, async () => expect((await complete(server.url, uncached.key)).status).toBe(200))
      const answeredIds = known.map((a) => a.headers.get("x-inferline-request-id"))
      await eventually(10_000, async () => {
        const rows = (await adminCall(server.url, "GET", `/spend/logs?key=${cached.id}&limit=1000`)).data as Array<any>
        const stored = new Set(rows.map((r) => r.request_id))
        expect(answeredIds.filter((id) => !stored.has(id))).toEqual([])
      })
      const log = warnings(server.output().slice(marker))
      expect(log.length, log.join("\n")).toBeLessThanOrEqual(10)
    } finally {
      pg.thaw()
      await server.stop()
    }
  })

  it("stopped for 6 s under load: cached keys served, unknown keys and /spend get 503 at once, the log stays short, rows written once it is back", async () => {
    const { server } = await serveOnPrivateServices(pg, undefined)
    try {
      const { cached } = await cachedAndUncachedKeys(server)
      // Keys the server has never seen: every request with one needs the database.
      const strangers = await Promise.all(Array.from({ length: 8 }, () => createKey(server.url)))
      await sleep(5200) // the cached key's entry expires: its next lookup needs the database too
      const marker = server.output().length
      await pg.stop()
      let stopped = false
      const stop = sleep(6000).then(() => (stopped = true))
      const known: Array<Awaited<ReturnType<typeof complete>>> = []
      const unknown: Array<Awaited<ReturnType<typeof complete>>> = []
      await Promise.all([
        (async () => {
          while (!stopped) known.push(await complete(server.url, cached.key))
        })(),
        ...strangers.map(async (k) => {
          while (!stopped) unknown.push(await complete(server.url, k.key))
        }),
        stop
      ])
      const spend = await fetch(`${server.url}/spend/logs`, { headers: { authorization: "Bearer sk-faults-master" } })
      expect(spend.status).toBe(503)
      await pg.start()

      expect(new Set(statuses(known))).toEqual(new Set([200]))
      expect(known.length).toBeGreaterThan(20)
      expect(new Set(statuses(unknown))).toEqual(new Set([503]))
      expect(unknown.length).toBeGreaterThan(200) // refused at once, so many were made
      expect(slowest([...known, ...unknown])).toBeLessThan(DB_TIMEOUT_MS + 1500)
      // Thousands of failed requests, a handful of log lines (each outage logged once per interval).
      const log = warnings(server.output().slice(marker))
      expect(log.length, log.join("\n")).toBeLessThanOrEqual(12)
      expect(server.output().slice(marker).split("\n").filter((l) => /^\s+at /.test(l)).length).toBeLessThan(200)

      await eventually(15_000, async () => {
        const rows = (await adminCall(server.url, "GET", `/spend/logs?key=${cached.id}&limit=1000`)).data as Array<any>
        const stored = new Set(rows.map((r) => r.request_id))
        expect(known.map((a) => a.headers.get("x-inferline-request-id")).filter((id) => !stored.has(id))).toEqual([])
      })
    } finally {
      await pg.start().catch(() => undefined)
      await server.stop()
    }
  })

  it("item 11: down at startup: retries with backoff and serves once it is up; gives up after INFERLINE_DB_STARTUP_WAIT_MS", async () => {
    pg.psql("CREATE DATABASE startup_retry", "postgres")
    await pg.stop()
    try {
      const waiting = spawnInferline({ env: { DATABASE_URL: pg.url("startup_retry") }, args: ["--disable-log-requests"] })
      await sleep(4000)
      expect(waiting.child.exitCode).toBeNull() // still trying
      expect(waiting.output()).toContain("not reachable yet")
      await pg.start()
      const server = await waiting.ready
      expect((await complete(server.url, "sk-faults-master")).status).toBe(200)
      await server.stop()

      await pg.stop()
      const started = Date.now()
      const givingUp = spawnInferline({ env: { DATABASE_URL: pg.url("startup_retry"), INFERLINE_DB_STARTUP_WAIT_MS: "2000" } })
      const exit = await givingUp.exited
      await givingUp.ready.catch(() => undefined)
      expect(exit.code).toBe(1)
      expect(Date.now() - started).toBeGreaterThan(2000)
      expect(givingUp.output()).toMatch(/could not start: the database could not be reached in 2 s/)
    } finally {
      await pg.start().catch(() => undefined)
    }
  })
})
