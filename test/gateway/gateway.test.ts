import { it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import type { GatewayError } from "../../src/gateway/errors.ts"
import { Gateway } from "../../src/gateway/gateway.ts"
import { fromGatewayError } from "../../src/http/error-mapping.ts"
import { GatewayAdmin } from "../../src/gateway/gateway-admin.ts"
import { KeyStore, KeyStoreError } from "../../src/gateway/key-store.ts"
import { gatewayServicesLayer, gatewayTestLayer } from "../../src/gateway/layers.ts"
import { LimitStore, LimitStoreError } from "../../src/gateway/limits/limit-store.ts"
import { makeMemoryLimitStore, memoryLimitStoreLayer } from "../../src/gateway/limits/memory-limit-store.ts"
import { makeMemoryKeyStore } from "../../src/gateway/memory-key-store.ts"
import { MASTER_KEY } from "./support/http.ts"

// The Gateway service itself, on the in-memory test layer (what other people's tests use).

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

const newKey = (fields: Parameters<GatewayAdmin["Service"]["createKey"]>[0] = {}) =>
  GatewayAdmin.use((admin) => admin.createKey(fields))

/** The refusal as the API answers it (src/http/error-mapping.ts: status, type, headers). */
const failure = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.map(Effect.flip(effect), (e) => fromGatewayError(e as GatewayError))

describe("Gateway", () => {
  it.effect("without a master key every request is allowed (auth off)", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      expect(gateway.authEnabled).toBe(false)
      const principal = yield* gateway.authenticate({})
      expect(principal._tag).toBe("AuthOff")
      yield* gateway.authorizeModel(principal, "anything")
      const permit = yield* gateway.admit(principal, { estimatedTokens: 1e9 })
      expect(permit.headers).toEqual({})
    }).pipe(Effect.provide(gatewayTestLayer())))

  it.effect("the master key is a principal of its own, without limits", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      expect((yield* gateway.authenticate(bearer(MASTER_KEY)))._tag).toBe("Master")
      expect((yield* gateway.authenticate({ "x-api-key": MASTER_KEY }))._tag).toBe("Master")
      expect((yield* failure(gateway.authenticate(bearer(`${MASTER_KEY} `.trim() + "0")))).status).toBe(401)
    }).pipe(Effect.provide(gatewayTestLayer({ masterKey: MASTER_KEY }))))

  it.effect("models: both the key's and the team's lists apply", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      const admin = yield* GatewayAdmin
      const team = yield* admin.createTeam({ models: ["a", "b"] })
      const { key } = yield* newKey({ team_id: team.id, models: ["b", "c"] })
      const principal = yield* gateway.authenticate(bearer(key))
      yield* gateway.authorizeModel(principal, "b")
      expect((yield* failure(gateway.authorizeModel(principal, "a"))).message).toContain("key")
      expect((yield* failure(gateway.authorizeModel(principal, "c"))).message).toContain("team")
      expect((yield* failure(gateway.authorizeModel(principal, "c"))).status).toBe(403)
    }).pipe(Effect.provide(gatewayTestLayer({ masterKey: MASTER_KEY }))))

  it.effect("request guards: messages and prompt tokens, per key, per team and gateway-wide", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      const admin = yield* GatewayAdmin
      const team = yield* admin.createTeam({ max_prompt_tokens: 100 })
      const { key } = yield* newKey({ team_id: team.id, max_messages: 3, max_prompt_tokens: 500 })
      const principal = yield* gateway.authenticate(bearer(key))
      yield* gateway.checkRequest(principal, { messages: 3, promptTokens: 100 })
      expect(yield* failure(gateway.checkRequest(principal, { messages: 4 }))).toMatchObject({ status: 400, code: "max_messages_exceeded", param: "messages" })
      expect(yield* failure(gateway.checkRequest(principal, { promptTokens: 101 }))).toMatchObject({ status: 400, code: "max_prompt_tokens_exceeded" })
      // The gateway-wide cap applies to the master key too.
      const master = yield* gateway.authenticate(bearer(MASTER_KEY))
      expect((yield* failure(gateway.checkRequest(master, { messages: 11 }))).code).toBe("max_messages_exceeded")
    }).pipe(Effect.provide(gatewayTestLayer({ masterKey: MASTER_KEY, maxMessages: 10 }))))

  it.effect("a parallel slot is held by the admit's scope and freed when it closes, however it closes", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      const { key } = yield* newKey({ max_parallel_requests: 1, rpm_limit: 100 })
      const principal = yield* gateway.authenticate(bearer(key))

      const scope = yield* Scope.make()
      const permit = yield* Scope.provide(gateway.admit(principal, { estimatedTokens: 0 }), scope)
      expect(permit.headers["x-ratelimit-remaining-requests"]).toBe("99")
      const refused = yield* failure(Effect.scoped(gateway.admit(principal, { estimatedTokens: 0 })))
      expect(refused).toMatchObject({ status: 429, type: "requests", code: "rate_limit_exceeded" })
      expect(refused.headers!["retry-after"]).toBe("1")
      yield* Scope.close(scope, Exit.void)

      // Failed and interrupted requests free their slot too.
      yield* Effect.exit(Effect.scoped(Effect.andThen(gateway.admit(principal, { estimatedTokens: 0 }), Effect.fail("boom"))))
      const running = yield* Effect.forkChild(Effect.scoped(Effect.andThen(gateway.admit(principal, { estimatedTokens: 0 }), Effect.never)))
      yield* Effect.yieldNow
      expect((yield* failure(Effect.scoped(gateway.admit(principal, { estimatedTokens: 0 })))).status).toBe(429)
      yield* Fiber.interrupt(running)
      yield* Effect.scoped(gateway.admit(principal, { estimatedTokens: 0 }))
      expect((yield* gateway.rateLimitHeaders(principal))["x-ratelimit-remaining-requests"]).toBe("96") // 4 admitted, refusals not counted
    }).pipe(Effect.provide(gatewayTestLayer({ masterKey: MASTER_KEY }))))

  it.effect("rate limits are sliding 60 s windows (TestClock)", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway
      const { key } = yield* newKey({ rpm_limit: 2 })
      const principal = yield* gateway.authenticate(bearer(key))
      const admit = Effect.scoped(gateway.admit(principal, { estimatedTokens: 1 }))
      yield* admit
      yield* TestClock.adjust("30 seconds")
      yield* admit
      const refused = yield* failure(admit)
      expect(refused.headers!["retry-after"]).toBe("30")
      expect(refused.headers!["x-ratelimit-reset-requests"]).toBe("1m0s")
      yield* TestClock.adjust("30 seconds") // the first request leaves the window, the second stays
      yield* admit
      expect((yield* failure(admit)).status).toBe(429)
    }).pipe(Effect.provide(gatewayTestLayer({ masterKey: MASTER_KEY }))))

  it.effect("key lookups are cached for the TTL, invalidated by writes on this instance", () =>
    Effect.gen(function*() {
      let lookups = 0
      const store = yield* makeMemoryKeyStore
      const counting = Layer.succeed(KeyStore, { ...store, findByHash: (h) => Effect.suspend(() => (lookups++, store.findByHash(h))) })
      const services = gatewayServicesLayer({ masterKey: MASTER_KEY, keyCache: { ttl: "5 seconds" } }).pipe(
        Layer.provide(Layer.mergeAll(counting, memoryLimitStoreLayer()))
      )
      yield* Effect.gen(function*() {
        const gateway = yield* Gateway
        const admin = yield* GatewayAdmin
        const { key, record } = yield* admin.createKey({})
        yield* Effect.all(Array.from({ length: 10 }, () => gateway.authenticate(bearer(key))), { concurrency: "unbounded" })
        expect(lookups).toBe(1) // concurrent misses share one lookup
        yield* TestClock.adjust("4 seconds")
        yield* gateway.authenticate(bearer(key))
        expect(lookups).toBe(1)
        yield* TestClock.adjust("2 seconds")
        yield* gateway.authenticate(bearer(key))
        expect(lookups).toBe(2) // the TTL bounds how stale another instance's view can be
        // A revocation written elsewhere is seen after the TTL; one written here at once.
        yield* store.revokeKey(record.id)
        yield* gateway.authenticate(bearer(key))
        yield* TestClock.adjust("6 seconds")
        expect((yield* failure(gateway.authenticate(bearer(key)))).status).toBe(401)
        const other = yield* admin.createKey({})
        yield* gateway.authenticate(bearer(other.key))
        yield* admin.revokeKey(other.record.id)
        expect((yield* failure(gateway.authenticate(bearer(other.key)))).status).toBe(401)
        // Unknown keys are cached too, so a flood of random keys does not reach the database.
        const before = lookups
        for (let i = 0; i < 5; i++) yield* Effect.flip(gateway.authenticate(bearer(`sk-inf-${"x".repeat(43)}`)))
        expect(lookups).toBe(before + 1)
      }).pipe(Effect.provide(services))
    }))

  it.effect("store outages answer 503, never let a request through", () =>
    Effect.gen(function*() {
      const store = yield* makeMemoryKeyStore
      const brokenKeys = Layer.succeed(KeyStore, { ...store, findByHash: () => Effect.fail(new KeyStoreError({ operation: "findByHash", cause: "down" })) })
      const keysDown = gatewayServicesLayer({ masterKey: MASTER_KEY }).pipe(Layer.provide(Layer.mergeAll(brokenKeys, memoryLimitStoreLayer())))
      const e1 = yield* failure(Gateway.use((g) => g.authenticate(bearer(`sk-inf-${"y".repeat(43)}`))).pipe(Effect.provide(keysDown)))
      expect(e1).toMatchObject({ status: 503, code: "gateway_unavailable" })

      const limits = yield* makeMemoryLimitStore()
      const brokenLimits = Layer.succeed(LimitStore, { ...limits, acquire: () => Effect.fail(new LimitStoreError({ operation: "acquire", cause: "down" })) })
      const limitsDown = gatewayServicesLayer({ masterKey: MASTER_KEY }).pipe(Layer.provide(Layer.mergeAll(Layer.succeed(KeyStore, store), brokenLimits)))
      const e2 = yield* failure(Effect.gen(function*() {
        const { key } = yield* newKey({ rpm_limit: 1 })
        const gateway = yield* Gateway
        return yield* Effect.scoped(gateway.admit(yield* gateway.authenticate(bearer(key)), { estimatedTokens: 1 }))
      }).pipe(Effect.provide(limitsDown)))
      expect(e2).toMatchObject({ status: 503 })
    }))
})
