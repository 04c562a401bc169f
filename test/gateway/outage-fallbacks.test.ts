import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { makeDependencyGuard } from "../../src/effect/dependency-guard.ts"
import { makeKeyDirectory } from "../../src/gateway/key-directory.ts"
import { KeyStoreError, type KeyStore, type KeyWithTeam } from "../../src/gateway/key-store.ts"
import { LimitStore, LimitStoreError } from "../../src/gateway/limits/limit-store.ts"
import { makeMemoryLimitStore } from "../../src/gateway/limits/memory-limit-store.ts"
import { makeResilientLimitStore, type LimitsOnOutage } from "../../src/gateway/limits/resilient-limit-store.ts"

// The in-process parts of the outage behaviour (the fault suite checks them end to end against real
// Postgres and Redis processes): the guard's timeout and fail-fast, the key cache's grace period, and
// where rate limits go while the shared store is down.

describe("dependency guard", () => {
  it.live("times a hung call out, then fails at once without calling until a probe gets an answer", () =>
    Effect.gen(function*() {
      let back = false
      let calls = 0
      const guard = makeDependencyGuard({ name: "test store", timeout: 100, retryInterval: 50, probe: Effect.suspend(() => (back ? Effect.void : Effect.never)) })
      const started = Date.now()
      const hung = yield* Effect.flip(guard.run(Effect.sync(() => calls++).pipe(Effect.andThen(Effect.never))))
      expect([hung._tag, (hung as { reason?: string }).reason]).toEqual(["DependencyUnavailable", "timeout"])
      expect(Date.now() - started).toBeLessThan(1000)
      expect(guard.isDown()).toBe(true)
      const fast = yield* Effect.flip(guard.run(Effect.sync(() => calls++)))
      expect((fast as { reason?: string }).reason).toBe("down")
      expect(calls).toBe(1) // not called while down
      back = true
      for (let i = 0; i < 100 && guard.isDown(); i++) yield* Effect.sleep(20)
      expect(guard.isDown()).toBe(false)
      expect(yield* guard.run(Effect.succeed("answered"))).toBe("answered")
    }))

  it.live("a reply that arrived while the event loop was held up past the timeout still counts", () =>
    Effect.gen(function*() {
      // An echo server in another process (as Redis or Postgres is): it answers while this one is busy.
      const echo = spawn(process.execPath, ["-e", `require("node:net").createServer((s) => s.on("data", (d) => s.write(d))).listen(0, "127.0.0.1", function () { console.log(this.address().port) })`], { stdio: ["ignore", "pipe", "inherit"] })
      yield* Effect.addFinalizer(() => Effect.sync(() => echo.kill()))
      const port = yield* Effect.callback<number>((resume) => void echo.stdout!.once("data", (d) => resume(Effect.succeed(Number(String(d).trim())))))
      const guard = makeDependencyGuard({ name: "echo", timeout: 50, probe: Effect.void })
      // The request goes out, then this process is busy for 4 times the timeout: when its loop runs
      // again the deadline has passed and the reply is waiting to be read.
      const roundTrip = Effect.callback<string>((resume) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write("ping")
          const until = Date.now() + 200
          while (Date.now() < until) {} // a long synchronous task
        })
        socket.on("data", (d) => {
          socket.destroy()
          resume(Effect.succeed(String(d)))
        })
      })
      expect(yield* guard.run(roundTrip)).toBe("ping")
      expect(guard.isDown()).toBe(false)
    }))

  it.live("a failure that is the call's own (not an outage) leaves it up", () =>
    Effect.gen(function*() {
      const guard = makeDependencyGuard({ name: "test store", timeout: 100, isOutage: (e) => e === "connection refused", probe: Effect.void })
      expect(yield* Effect.flip(guard.run(Effect.fail("syntax error")))).toBe("syntax error")
      expect(guard.isDown()).toBe(false)
      expect(yield* Effect.flip(guard.run(Effect.fail("connection refused")))).toBe("connection refused")
      expect(guard.isDown()).toBe(true)
    }))
})

describe("key directory while the key store fails", () => {
  const entry = { key: { id: "k1" }, team: null } as unknown as KeyWithTeam
  const failingAfterFirst = () => {
    let lookups = 0
    const store = { findByHash: (hash: string) => Effect.suspend(() => (lookups++ === 0 && hash === "known" ? Effect.succeed(entry) : Effect.fail(new KeyStoreError({ operation: "findByHash", cause: "down" })))) }
    return store as unknown as KeyStore["Service"]
  }

  it.live("serves a key it has looked up for the grace period, and nothing it has not", () =>
    Effect.gen(function*() {
      const directory = yield* makeKeyDirectory(failingAfterFirst(), { ttl: 10, grace: 300 })
      expect(yield* directory.lookup("known")).toBe(entry)
      yield* Effect.sleep(30) // past the TTL: the next lookup asks the (failing) store
      expect(yield* directory.lookup("known")).toBe(entry)
      expect(Exit.isFailure(yield* Effect.exit(directory.lookup("never-seen")))).toBe(true)
      yield* Effect.sleep(350) // past the grace period
      expect(Exit.isFailure(yield* Effect.exit(directory.lookup("known")))).toBe(true)
    }))

  it.live("a revoked key is not served from the grace cache", () =>
    Effect.gen(function*() {
      const directory = yield* makeKeyDirectory(failingAfterFirst(), { ttl: 10, grace: 10_000 })
      yield* directory.lookup("known")
      yield* directory.invalidateKey("k1")
      expect(Exit.isFailure(yield* Effect.exit(directory.lookup("known")))).toBe(true)
    }))
})

describe("rate limits while the shared store is down", () => {
  const subjects = [{ id: "key:a", rpm: 2, tpm: 1000, parallel: 5 }]
  const downStore = LimitStore.of({
    acquire: () => Effect.fail(new LimitStoreError({ operation: "acquire", cause: "ECONNREFUSED" })),
    reconcile: () => Effect.die("the shared store must not be asked about a lease it did not admit"),
    release: () => Effect.die("the shared store must not be asked about a lease it did not admit"),
    refresh: () => Effect.die("the shared store must not be asked about a lease it did not admit"),
    peek: () => Effect.fail(new LimitStoreError({ operation: "peek", cause: "ECONNREFUSED" })),
    leaseTtlMs: 60_000
  })
  const resilient = (mode: LimitsOnOutage) =>
    Effect.gen(function*() {
      const local = yield* makeMemoryLimitStore()
      const guard = makeDependencyGuard({ name: "Redis", timeout: 100, isOutage: () => true, probe: Effect.never })
      return { store: makeResilientLimitStore(downStore, local, guard, mode), local }
    })

  it.live("local: counted in this process; the lease's reconcile and release go where it was admitted", () =>
    Effect.gen(function*() {
      const { store, local } = yield* resilient("local")
      const first = yield* store.acquire({ subjects, leaseId: "l1", tokens: 10 })
      expect(first.admitted).toBe(true)
      expect((yield* local.peek(subjects))[0]).toMatchObject({ requests: 1, tokens: 10, parallel: 1 })
      yield* store.reconcile(["key:a"], "l1", 5, true)
      yield* store.release(["key:a"], "l1")
      expect((yield* local.peek(subjects))[0]).toMatchObject({ requests: 1, tokens: 15, parallel: 0 })
      yield* store.acquire({ subjects, leaseId: "l2", tokens: 1 })
      expect((yield* store.acquire({ subjects, leaseId: "l3", tokens: 1 })).admitted).toBe(false) // rpm 2
    }))

  it.live("closed refuses; open admits without counting", () =>
    Effect.gen(function*() {
      const closed = yield* resilient("closed")
      expect((yield* Effect.flip(closed.store.acquire({ subjects, leaseId: "c1", tokens: 1 })))._tag).toBe("LimitStoreError")
      const open = yield* resilient("open")
      for (let i = 0; i < 5; i++) expect((yield* open.store.acquire({ subjects, leaseId: `o${i}`, tokens: 1 })).admitted).toBe(true)
      yield* open.store.release(["key:a"], "o1")
      expect((yield* open.local.peek(subjects))[0].requests).toBe(0)
    }))
})
