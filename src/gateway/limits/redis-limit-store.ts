import { Effect, Layer } from "effect"
import { Redis } from "effect/persistence"
import { DEFAULT_WINDOW_MS, LimitStore, LimitStoreError, type AcquireResult, type Axis, type Subject, type SubjectUsage } from "./limit-store.ts"
import { acquireScript, reconcileScript, refreshScript, releaseScript } from "./redis-limit-scripts.ts"

export interface RedisLimitStoreOptions {
  /** Prefix of every Redis key (default `inferline:limits:`); tests use a unique one. */
  readonly prefix?: string | undefined
  readonly windowMs?: number | undefined
  /** Lifetime of a parallel slot that its holder stops refreshing (it crashed); default 60 s. */
  readonly leaseTtlMs?: number | undefined
}

const AXES: ReadonlyArray<Axis> = ["requests", "tokens", "parallel"]

/**
 * Limits shared by every instance using the same Redis: all state lives in Redis and every change is
 * one Lua script (see redis-limit-scripts.ts), so there is no read-modify-write race between instances.
 * A subject's keys share a hash tag ({subject}) so they live in one slot of a Redis Cluster.
 */
export const makeRedisLimitStore = (options: RedisLimitStoreOptions = {}) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const prefix = options.prefix ?? "inferline:limits:"
    const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
    const leaseTtlMs = options.leaseTtlMs ?? 60_000
    const keysOf = (id: string) => {
      const base = `${prefix}{${id}}`
      return { log: `${base}:log`, tok: `${base}:tok`, par: `${base}:par` }
    }
    const limitArg = (n: number | null) => (n === null ? -1 : n)
    const runAcquire = redis.eval(acquireScript)
    const runReconcile = redis.eval(reconcileScript)
    const runRelease = redis.eval(releaseScript)
    const runRefresh = redis.eval(refreshScript)
    const fail = (operation: string) => (cause: unknown) => new LimitStoreError({ operation, cause })
    // The first run of a script on a client costs a SCRIPT LOAD round trip before its EVALSHA. Settle
    // forks the release and expects it on the connection before the response is written, so the scripts
    // a request ends with are loaded now (with no keys they change nothing); a failure here is only a
    // slower first call.
    yield* Effect.ignore(Effect.all([runReconcile([], "", 0), runRelease([], ""), runRefresh([], "", leaseTtlMs)], { concurrency: "unbounded" }))

    const call = (mode: "acquire" | "peek", subjects: ReadonlyArray<Subject>, leaseId: string, tokens: number) =>
      runAcquire(
        subjects.flatMap(({ id }) => { const k = keysOf(id); return [k.log, k.tok, k.par] }),
        [mode, windowMs, leaseId, leaseTtlMs, tokens, ...subjects.flatMap((s) => [limitArg(s.rpm), limitArg(s.tpm), limitArg(s.parallel)])]
      ).pipe(
        Effect.map((reply) => {
          const n = reply.map(Number)
          const usage: Array<SubjectUsage> = subjects.map((_, i) => {
            const o = 4 + 4 * i
            return { requests: n[o], tokens: n[o + 1], resetMs: n[o + 2], parallel: n[o + 3] }
          })
          return { admitted: n[0] === 1, subject: n[1] - 1, axis: AXES[n[2] - 1], retryAfterMs: n[3], usage }
        }),
        Effect.mapError(fail(mode))
      )

    return LimitStore.of({
      acquire: ({ subjects, leaseId, tokens }) =>
        Effect.map(call("acquire", subjects, leaseId, tokens), (r): AcquireResult =>
          r.admitted
            ? { admitted: true, usage: r.usage }
            : { admitted: false, subject: r.subject, axis: r.axis, retryAfterMs: r.retryAfterMs, usage: r.usage }),
      // (Entries live in Redis under the lease id: nothing to forget on the last call.)
      reconcile: (ids, leaseId, delta) =>
        ids.length === 0 || delta === 0 ? Effect.void : Effect.asVoid(runReconcile(ids.map((id) => keysOf(id).tok), leaseId, delta)).pipe(Effect.mapError(fail("reconcile"))),
      release: (ids, leaseId) =>
        ids.length === 0 ? Effect.void : Effect.asVoid(runRelease(ids.map((id) => keysOf(id).par), leaseId)).pipe(Effect.mapError(fail("release"))),
      refresh: (ids, leaseId) =>
        ids.length === 0 ? Effect.void : Effect.asVoid(runRefresh(ids.map((id) => keysOf(id).par), leaseId, leaseTtlMs)).pipe(Effect.mapError(fail("refresh"))),
      peek: (subjects) => Effect.map(call("peek", subjects, "", 0), (r) => r.usage),
      leaseTtlMs
    })
  })

export const redisLimitStoreLayer = (options: RedisLimitStoreOptions = {}): Layer.Layer<LimitStore, never, Redis.Redis> =>
  Layer.effect(LimitStore, makeRedisLimitStore(options))
