/**
 * Issue 16, item 7 (Redis): rate limits shared through a Redis of the test's own, frozen (SIGSTOP) and
 * killed under requests. No request of a rate-limited key waits for a dead Redis beyond its command
 * timeout (once; then Redis is known down and not waited for), and INFERLINE_LIMITS_ON_REDIS_DOWN
 * decides the outcome: `local` (default) counts in this process, `closed` refuses with 503, `open`
 * admits uncounted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sleep } from "../support/free-port.ts"
import { complete, createKey, spawnInferline } from "./support/inferline-process.ts"
import { codeOf, REDIS_TIMEOUT_MS, repeatFor, serveOnPrivateServices, slowest, statuses, warnings } from "./support/outage-server.ts"
import { PrivatePostgres } from "./support/private-postgres.ts"
import { PrivateRedis } from "./support/private-redis.ts"

let pg: PrivatePostgres
let redis: PrivateRedis
beforeAll(async () => {
  ;[pg, redis] = await Promise.all([PrivatePostgres.create(), PrivateRedis.create()])
})
afterAll(async () => {
  await redis?.close()
  await pg?.close()
})

/** Limits on every axis, far from reached (admission does its full work in Redis). */
const LIMITS = { rpm_limit: 100_000, tpm_limit: 100_000_000, max_parallel_requests: 1000 }

describe("Redis outages", () => {
  it("frozen for 5 s: requests of rate-limited keys go on (counted in this process), none waits past the command timeout more than once", async () => {
    const { server } = await serveOnPrivateServices(pg, redis)
    try {
      const key = await createKey(server.url, LIMITS)
      expect((await complete(server.url, key.key)).status).toBe(200)
      const marker = server.output().length
      redis.freeze()
      const thawed = sleep(5000).then(() => redis.thaw())
      const during = await repeatFor(4500, 100, () => complete(server.url, key.key))
      await thawed
      expect(statuses(during)).toEqual(during.map(() => 200))
      expect(slowest(during)).toBeLessThan(REDIS_TIMEOUT_MS + 1000)
      expect(during.filter((a) => a.ms > REDIS_TIMEOUT_MS).length).toBeLessThanOrEqual(1)
      // Back: Redis answers the probe, and requests are counted there again.
      await sleep(1500)
      const after = await complete(server.url, key.key)
      expect(after.status).toBe(200)
      expect(Number(after.headers.get("x-ratelimit-remaining-requests"))).toBeLessThan(LIMITS.rpm_limit - 1)
      const log = warnings(server.output().slice(marker))
      expect(log.length, log.join("\n")).toBeLessThanOrEqual(6)
      expect(server.output().slice(marker)).toContain("Redis is back")
    } finally {
      redis.thaw()
      await server.stop()
    }
  })

  it("killed: local (default) enforces the limits in this process, closed refuses with 503 at once, open admits; all without waiting", async () => {
    const servers = await Promise.all((["local", "closed", "open"] as const).map((mode) => serveOnPrivateServices(pg, redis, { INFERLINE_LIMITS_ON_REDIS_DOWN: mode }).then((s) => ({ mode, ...s }))))
    try {
      const keys = await Promise.all(servers.map(({ server }) => createKey(server.url, { rpm_limit: 5 })))
      await redis.kill()
      const answers = await Promise.all(servers.map(({ server }, i) => repeatFor(1500, 100, () => complete(server.url, keys[i].key))))
      const [local, closed, open] = answers
      for (const a of answers) expect(slowest(a)).toBeLessThan(REDIS_TIMEOUT_MS + 700)
      // local: 5 admitted in this process's own window, then 429s.
      expect(statuses(local).slice(0, 5)).toEqual([200, 200, 200, 200, 200])
      expect(new Set(statuses(local).slice(5))).toEqual(new Set([429]))
      // closed: refused, with a retry hint.
      expect(new Set(statuses(closed))).toEqual(new Set([503]))
      expect(codeOf(closed[0])).toBe("gateway_unavailable")
      // open: admitted without counting.
      expect(new Set(statuses(open))).toEqual(new Set([200]))
      expect(open.length).toBeGreaterThan(5)
      // Redis back: the shared limits apply again (the key's 5 are not spent in Redis yet).
      await redis.start()
      await sleep(2500)
      const again = await complete(servers[1].server.url, keys[1].key)
      expect(again.status, again.body).toBe(200)
    } finally {
      await redis.start()
      await Promise.all(servers.map(({ server }) => server.stop()))
    }
  })
  it("down at startup: retries with backoff and serves once it is up; gives up after INFERLINE_REDIS_STARTUP_WAIT_MS", async () => {
    const database = `redis_startup_${process.pid}`
    pg.psql(`CREATE DATABASE ${database}`, "postgres")
    await redis.kill()
    try {
      const env = { DATABASE_URL: pg.url(database), REDIS_URL: redis.url }
      const waiting = spawnInferline({ env, args: ["--disable-log-requests"] })
      await sleep(4000)
      expect(waiting.child.exitCode).toBeNull() // still trying
      expect(waiting.output()).toContain("redis: not reachable yet")
      await redis.start()
      const server = await waiting.ready
      const key = await createKey(server.url, LIMITS)
      const answer = await complete(server.url, key.key)
      expect(answer.status).toBe(200)
      // Counted in Redis: the limits are shared, not this process's fallback.
      expect(server.output()).toContain("rate limits shared through Redis")
      await server.stop()

      await redis.kill()
      const started = Date.now()
      const givingUp = spawnInferline({ env: { ...env, INFERLINE_REDIS_STARTUP_WAIT_MS: "2000" } })
      const exit = await givingUp.exited
      await givingUp.ready.catch(() => undefined)
      expect(exit.code).toBe(1)
      expect(Date.now() - started).toBeGreaterThan(2000)
      expect(givingUp.output()).toMatch(/could not start: Redis could not be reached in 2 s/)
    } finally {
      await redis.start().catch(() => undefined)
    }
  })
})
