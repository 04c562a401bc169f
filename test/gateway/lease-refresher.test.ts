import { NodeRedis } from "@effect/platform-node"
import { layer } from "@effect/vitest"
import { Effect, Exit, Layer, Schedule, Scope } from "effect"
import { createClient } from "redis"
import { describe, expect } from "vitest"
import { makeAdmit } from "../../src/gateway/admission.ts"
import { LimitStore } from "../../src/gateway/limits/limit-store.ts"
import { redisLimitStoreLayer } from "../../src/gateway/limits/redis-limit-store.ts"
import type { Principal } from "../../src/gateway/principal.ts"
import { REDIS_URL, uniqueName } from "./support/databases.ts"

// With Redis, a parallel slot expires unless its holder refreshes it (an instance that dies must not hold
// slots forever). One refresher per process keeps every running request's slot alive; a 300 ms lease TTL
// lets that be watched in real time.

const LEASE_TTL_MS = 300
const storeLayer = redisLimitStoreLayer({ prefix: `${uniqueName("gw_lease")}:`, leaseTtlMs: LEASE_TTL_MS }).pipe(
  Layer.provide(NodeRedis.layer({ url: REDIS_URL })),
  Layer.orDie
)

const keyWithParallelLimit = (id: string): Principal =>
  ({ _tag: "Key", key: { id, rpm_limit: null, tpm_limit: null, max_parallel_requests: 1 }, team: null }) as unknown as Principal

describe("lease refresher", () => {
  layer(storeLayer, { excludeTestServices: true })((it) => {
    it.effect("a running request keeps its parallel slot past the lease TTL; released, the slot is free at once", () =>
      Effect.gen(function*() {
        const store = yield* LimitStore
        const admit = yield* makeAdmit(store)
        const principal = keyWithParallelLimit(uniqueName("key"))
        const subject = { id: `key:${(principal as { key: { id: string } }).key.id}`, rpm: null, tpm: null, parallel: 1 }

        const request = yield* Scope.make()
        yield* admit(principal, { estimatedTokens: 0 }).pipe(Scope.provide(request))
        yield* Effect.sleep(LEASE_TTL_MS * 2.5)
        // Without the refresher the slot would have expired by now.
        expect((yield* store.peek([subject]))[0].parallel).toBe(1)
        const refused = yield* Effect.exit(admit(principal, { estimatedTokens: 0 }).pipe(Scope.provide(yield* Scope.make())))
        expect(Exit.isFailure(refused)).toBe(true)

        yield* Scope.close(request, Exit.void)
        expect((yield* store.peek([subject]))[0].parallel).toBe(0)
      }))

    it.effect("settling does not wait for Redis's answer; the release lands once Redis takes writes again", () =>
      Effect.gen(function*() {
        const store = yield* LimitStore
        const admit = yield* makeAdmit(store)
        const principal = keyWithParallelLimit(uniqueName("key"))
        const subject = { id: `key:${(principal as { key: { id: string } }).key.id}`, rpm: null, tpm: null, parallel: 1 }
        const permit = yield* admit(principal, { estimatedTokens: 0 }).pipe(Scope.provide(yield* Scope.make()))

        // Another connection makes Redis hold every write (scripts included) for up to 10 s.
        const other = createClient({ url: REDIS_URL })
        yield* Effect.promise(() => other.connect())
        yield* Effect.promise(() => other.sendCommand(["CLIENT", "PAUSE", "10000", "WRITE"]))
        // Waiting for Redis's reply would take the whole pause.
        const settled = yield* Effect.exit(Effect.timeout(permit.settle(0), "2 seconds"))
        yield* Effect.promise(() => other.sendCommand(["CLIENT", "UNPAUSE"]))
        yield* Effect.promise(() => other.close())
        expect(Exit.isSuccess(settled)).toBe(true)
        // The release was sent all the same: the slot is free once Redis has run it.
        const parallel = yield* store.peek([subject]).pipe(
          Effect.map((usage) => usage[0].parallel),
          Effect.repeat({ until: (n) => n === 0, times: 50, schedule: Schedule.spaced("20 millis") })
        )
        expect(parallel).toBe(0)
      }))
  })
})
