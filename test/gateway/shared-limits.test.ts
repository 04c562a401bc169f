import { NodeRedis } from "@effect/platform-node"
import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { describe, expect } from "vitest"
import { gatewayServicesLayer } from "../../src/gateway/layers.ts"
import { redisLimitStoreLayer } from "../../src/gateway/limits/redis-limit-store.ts"
import { memoryKeyStoreLayer } from "../../src/gateway/memory-key-store.ts"
import { REDIS_URL, uniqueName } from "./support/databases.ts"
import { admin, complete, MASTER_KEY } from "./support/http.ts"
import { serveGateway } from "./support/test-server.ts"

// Two gateway instances — each with its own Gateway, key cache and Redis connection — behind two HTTP
// servers on different ports, sharing one Redis (under a prefix of this run) and one key store.

const twoInstances = Effect.gen(function*() {
  const keyStore = yield* Layer.build(memoryKeyStoreLayer)
  const prefix = `${uniqueName("gw_test")}:`
  const instance = () =>
    gatewayServicesLayer({ masterKey: MASTER_KEY }).pipe(
      Layer.provide(redisLimitStoreLayer({ prefix })),
      Layer.provide(NodeRedis.layer({ url: REDIS_URL })),
      Layer.provide(Layer.succeedContext(keyStore)),
      Layer.orDie,
      Layer.fresh
    )
  const a = yield* serveGateway(instance())
  const b = yield* serveGateway(instance())
  expect(a.url).not.toBe(b.url)
  return [a.url, b.url] as const
})

describe("limits shared through Redis by two instances", () => {
  it.live("200 concurrent requests against rpm 50: exactly 50 accepted in total, the rest 429 with headers", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoInstances
      const results = yield* Effect.promise(async () => {
        const { key } = (await admin(a, "POST", "/admin/keys", { rpm_limit: 50 })).json
        return Promise.all(Array.from({ length: 200 }, (_, i) => complete(i % 2 === 0 ? a : b, key)))
      })
      const accepted = results.filter((r) => r.status === 200)
      const refused = results.filter((r) => r.status === 429)
      expect(accepted.length).toBe(50)
      expect(refused.length).toBe(150)
      // Both instances admitted some: one limit, shared, not one per instance.
      const admittedBy = (parity: number) => results.filter((r, i) => r.status === 200 && i % 2 === parity).length
      expect(admittedBy(0)).toBeGreaterThan(0)
      expect(admittedBy(1)).toBeGreaterThan(0)
      for (const r of refused) {
        expect(r.json.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" })
        expect(r.headers.get("x-ratelimit-limit-requests")).toBe("50")
        expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("0")
        expect(r.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(\.\d+)?s$|^\d+m\d+(\.\d+)?s$/)
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      }
      const remaining = accepted.map((r) => Number(r.headers.get("x-ratelimit-remaining-requests"))).sort((x, y) => x - y)
      expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => i)) // each admission saw its own count
    }))

  it.live("max_parallel_requests holds across instances, and slots come back when requests end", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoInstances
      yield* Effect.promise(async () => {
        const { key } = (await admin(a, "POST", "/admin/keys", { max_parallel_requests: 3 })).json
        const slow = await Promise.all(Array.from({ length: 12 }, (_, i) => complete(i % 2 === 0 ? a : b, key, { delay_ms: 400 })))
        expect(slow.filter((r) => r.status === 200).length).toBe(3)
        expect(slow.filter((r) => r.status === 429).every((r) => r.json.error.message.includes("parallel"))).toBe(true)
        // All finished: every slot is free again, on both instances.
        const again = await Promise.all(Array.from({ length: 3 }, (_, i) => complete(i % 2 === 0 ? a : b, key, { delay_ms: 100 })))
        expect(again.map((r) => r.status)).toEqual([200, 200, 200])
      })
    }))

  it.live("tokens are reserved up front and reconciled to actual usage", () =>
    Effect.gen(function*() {
      const [a, b] = yield* twoInstances
      yield* Effect.promise(async () => {
        // Each request reserves 5 (one message) + 100 (max_tokens) and then reconciles to 7 used.
        const { key } = (await admin(a, "POST", "/admin/keys", { tpm_limit: 220 })).json
        const body = { messages: [{ role: "user", content: "hi" }], max_tokens: 100 }
        const first = await complete(a, key, body)
        expect(first.status).toBe(200)
        expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe(String(220 - 105))
        // Reconciled: 7 used, so two more reservations of 105 fit (7 + 105 + 105 = 217)...
        expect((await complete(b, key, body)).status).toBe(200)
        expect((await complete(a, key, body)).status).toBe(200)
        // ...and after they reconcile, 7 * 3 = 21 are used: 21 + 105 fits again.
        const fourth = await complete(b, key, body)
        expect(fourth.status).toBe(200)
        expect(fourth.headers.get("x-ratelimit-remaining-tokens")).toBe(String(220 - 21 - 105))
        // A request larger than the whole limit is refused as such.
        const huge = await complete(a, key, { ...body, max_tokens: 1000 })
        expect(huge.status).toBe(429)
        expect(huge.json.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" })
        expect(huge.json.error.message).toContain("Request too large")
      })
    }))
})
