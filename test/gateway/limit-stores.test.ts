import { NodeRedis } from "@effect/platform-node"
import { layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { describe, expect } from "vitest"
import { LimitStore, type Subject } from "../../src/gateway/limits/limit-store.ts"
import { memoryLimitStoreLayer } from "../../src/gateway/limits/memory-limit-store.ts"
import { redisLimitStoreLayer } from "../../src/gateway/limits/redis-limit-store.ts"
import { REDIS_URL, uniqueName } from "./support/databases.ts"

// The in-memory store and the Redis store (Lua) implement the same sliding-window rules; each case runs
// on both, with a 400 ms window so expiry can be observed in real time.

const WINDOW_MS = 400

const stores = [
  { name: "memory", layer: memoryLimitStoreLayer({ windowMs: WINDOW_MS }) },
  {
    name: "Redis",
    layer: redisLimitStoreLayer({ prefix: `${uniqueName("gw_test")}:`, windowMs: WINDOW_MS, leaseTtlMs: 300 }).pipe(
      Layer.provide(NodeRedis.layer({ url: REDIS_URL })),
      Layer.orDie
    )
  }
] as const

let n = 0
const subject = (limits: Partial<Omit<Subject, "id">>): Subject => ({ id: `s${n++}`, rpm: null, tpm: null, parallel: null, ...limits })
const lease = () => `lease-${n++}`

for (const store of stores) {
  describe(`${store.name} limit store`, () => {
    layer(store.layer, { excludeTestServices: true })((it) => {
      it.effect("requests slide out of the window one by one", () =>
        Effect.gen(function*() {
          const limits = yield* LimitStore
          const s = subject({ rpm: 2 })
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
          yield* Effect.sleep(WINDOW_MS / 2)
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
          const refused = yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })
          expect(refused).toMatchObject({ admitted: false, subject: 0, axis: "requests" })
          // The first entry leaves after about half a window; the refusal says so.
          if (refused.admitted) throw new Error("unreachable")
          expect(refused.retryAfterMs).toBeGreaterThan(WINDOW_MS / 2 - 100)
          expect(refused.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS / 2 + 10)
          yield* Effect.sleep(refused.retryAfterMs + 20)
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
          expect((yield* limits.peek([s]))[0].requests).toBe(2)
        }))

      it.effect("a refusal by one subject records nothing for the others", () =>
        Effect.gen(function*() {
          const limits = yield* LimitStore
          const key = subject({ rpm: 10, tpm: 1000 })
          const team = subject({ rpm: 1 })
          expect((yield* limits.acquire({ subjects: [key, team], leaseId: lease(), tokens: 10 })).admitted).toBe(true)
          const refused = yield* limits.acquire({ subjects: [key, team], leaseId: lease(), tokens: 10 })
          expect(refused).toMatchObject({ admitted: false, subject: 1, axis: "requests" })
          expect(yield* limits.peek([key, team])).toMatchObject([{ requests: 1, tokens: 10 }, { requests: 1 }])
        }))

      it.effect("tokens: reserve, reconcile up and down, refuse what does not fit", () =>
        Effect.gen(function*() {
          const limits = yield* LimitStore
          const s = subject({ tpm: 100 })
          const first = lease()
          expect((yield* limits.acquire({ subjects: [s], leaseId: first, tokens: 60 })).admitted).toBe(true)
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 50 }))).toMatchObject({ admitted: false, axis: "tokens" })
          yield* limits.reconcile([s.id], first, -40) // it used 20
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 50 })).admitted).toBe(true)
          expect((yield* limits.peek([s]))[0].tokens).toBe(70)
          yield* limits.reconcile([s.id], first, -1000) // never below zero
          expect((yield* limits.peek([s]))[0].tokens).toBe(50)
          const tooLarge = yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 101 })
          expect(tooLarge).toMatchObject({ admitted: false, axis: "tokens", retryAfterMs: WINDOW_MS })
          yield* Effect.sleep(WINDOW_MS + 20)
          expect((yield* limits.peek([s]))[0]).toMatchObject({ requests: 0, tokens: 0, resetMs: 0 })
          yield* limits.reconcile([s.id], first, 5) // out of the window: not revived
          expect((yield* limits.peek([s]))[0].tokens).toBe(0)
        }))

      it.effect("parallel slots: held until released", () =>
        Effect.gen(function*() {
          const limits = yield* LimitStore
          const s = subject({ parallel: 1 })
          const held = lease()
          expect((yield* limits.acquire({ subjects: [s], leaseId: held, tokens: 0 })).admitted).toBe(true)
          expect(yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).toMatchObject({ admitted: false, axis: "parallel" })
          if (limits.leaseTtlMs !== undefined) {
            // A shared store's slot outlives its TTL only while refreshed (a crashed holder stops refreshing).
            yield* Effect.sleep(limits.leaseTtlMs / 2)
            yield* limits.refresh([s.id], held)
            yield* Effect.sleep(limits.leaseTtlMs / 2 + 50)
            expect((yield* limits.peek([s]))[0].parallel).toBe(1)
          }
          yield* limits.release([s.id], held)
          expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
        }))

      it.effect("concurrent acquires never exceed a limit", () =>
        Effect.gen(function*() {
          const limits = yield* LimitStore
          const s = subject({ rpm: 25, tpm: 250 })
          const results = yield* Effect.forEach(
            Array.from({ length: 100 }, () => lease()),
            (leaseId) => limits.acquire({ subjects: [s], leaseId, tokens: 10 }),
            { concurrency: "unbounded" }
          )
          expect(results.filter((r) => r.admitted).length).toBe(25)
        }))
    })
  })
}

describe("Redis lease expiry", () => {
  layer(stores[1].layer, { excludeTestServices: true })((it) => {
    it.effect("a slot whose holder stopped refreshing frees itself after the lease TTL", () =>
      Effect.gen(function*() {
        const limits = yield* LimitStore
        const s = subject({ parallel: 1 })
        expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
        yield* Effect.sleep((limits.leaseTtlMs ?? 0) + 50)
        expect((yield* limits.acquire({ subjects: [s], leaseId: lease(), tokens: 0 })).admitted).toBe(true)
      }))
  })
})

describe("memory limit store: per-request memory", () => {
  layer(memoryLimitStoreLayer({ windowMs: WINDOW_MS }), { excludeTestServices: true })((it) => {
    it.effect("a lease's last reconcile still counts, and then the store forgets the lease", () =>
      Effect.gen(function*() {
        const limits = yield* LimitStore
        const s = subject({ tpm: 100 })
        const first = lease()
        expect((yield* limits.acquire({ subjects: [s], leaseId: first, tokens: 60 })).admitted).toBe(true)
        yield* limits.reconcile([s.id], first, -10, true)
        expect((yield* limits.peek([s]))[0].tokens).toBe(50)
        // Nothing is kept to find the lease's entry by: a later call changes nothing.
        yield* limits.reconcile([s.id], first, -10)
        expect((yield* limits.peek([s]))[0].tokens).toBe(50)
      }))
  })
})
