import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { makeAdmit } from "../../src/gateway/admission.ts"
import { LimitStore } from "../../src/gateway/limits/limit-store.ts"
import { makeMemoryLimitStore } from "../../src/gateway/limits/memory-limit-store.ts"
import type { Principal } from "../../src/gateway/principal.ts"

// A lease's last reconcile is what lets the in-memory store forget it (src/gateway/limits/memory-limit-store.ts):
// every admitted lease must get exactly one, whether the request settles or its caller lets the scope close.

const keyWithTokenLimit = (id: string): Principal =>
  ({ _tag: "Key", key: { id, rpm_limit: null, tpm_limit: 1_000_000, max_parallel_requests: null }, team: null }) as unknown as Principal

/** The memory store, with its reconcile calls recorded. */
const spiedStore = Effect.map(makeMemoryLimitStore(), (store) => {
  const calls: Array<{ readonly delta: number; readonly last: boolean }> = []
  return {
    calls,
    store: LimitStore.of({ ...store, reconcile: (ids, lease, delta, last) => Effect.andThen(Effect.sync(() => void calls.push({ delta, last: last === true })), store.reconcile(ids, lease, delta, last)) })
  }
})

describe("admission: a lease's last reconcile", () => {
  it.effect("a caller that never settles: the scope's close makes the last call", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* spiedStore
      const admit = yield* makeAdmit(store)
      const scope = yield* Scope.make()
      yield* admit(keyWithTokenLimit("k1"), { estimatedTokens: 100 }).pipe(Scope.provide(scope))
      expect(calls).toEqual([])
      yield* Scope.close(scope, Exit.void)
      expect(calls).toEqual([{ delta: 0, last: true }])
    }).pipe(Effect.scoped))

  it.effect("a settled lease: one last call, none more when the scope closes or the caller settles again", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* spiedStore
      const admit = yield* makeAdmit(store)
      const scope = yield* Scope.make()
      const permit = yield* admit(keyWithTokenLimit("k2"), { estimatedTokens: 100 }).pipe(Scope.provide(scope))
      yield* permit.settle(100) // exactly the estimate: a delta of 0, still the last call
      yield* permit.settle(500)
      yield* Scope.close(scope, Exit.void)
      expect(calls).toEqual([{ delta: 0, last: true }])
    }).pipe(Effect.scoped))
})
