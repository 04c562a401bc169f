import { Effect } from "effect"
import type { DependencyGuard } from "../../effect/dependency-guard.ts"
import { rateLimitedLog } from "../../effect/rate-limited-log.ts"
import { LimitStore, LimitStoreError, type AcquireResult, type SubjectUsage } from "./limit-store.ts"

/**
 * What rate limits do while the shared store (Redis) cannot be reached, as LiteLLM lets one choose:
 * - `local` (the default, LiteLLM's behaviour: its limiter's DualCache falls back to the in-memory
 *   counters): each instance counts in its own memory, so every limit still holds per instance (N
 *   instances may admit up to N times a limit between them);
 * - `closed`: refuse rate-limited requests with 503 `gateway_unavailable` (nothing unchecked gets
 *   through; nothing at all gets through);
 * - `open`: admit them uncounted (LiteLLM's `allow_requests_on_db_unavailable` for the limits).
 * Requests of keys and teams without limits never touch the store and are served either way.
 */
export type LimitsOnOutage = "local" | "closed" | "open"

export const LIMITS_ON_OUTAGE: ReadonlyArray<LimitsOnOutage> = ["local", "closed", "open"]

/** Where a lease admitted while the shared store was down lives, and which call is its last. */
interface OutageLease {
  readonly where: "local" | "open"
  /** The parallel slot's release ends the lease if it has one, else its last token reconcile. */
  readonly lastCall: "release" | "reconcile"
}

const NO_USAGE: SubjectUsage = { requests: 0, tokens: 0, resetMs: 0, parallel: 0 }

/**
 * The shared limit store behind its guard (command timeout, fail-fast while down), with `onOutage`
 * deciding what an admission does when it cannot be reached (see LimitsOnOutage). A lease admitted by
 * the fallback stays with it (reconcile, release, refresh go to the store that admitted it), however
 * Redis fares meanwhile; leases admitted by Redis keep going to Redis, whose failures the gateway logs
 * (a parallel slot it cannot release expires with its lease TTL).
 */
export const makeResilientLimitStore = (
  shared: LimitStore["Service"],
  local: LimitStore["Service"],
  guard: DependencyGuard,
  onOutage: LimitsOnOutage
): LimitStore["Service"] => {
  const log = rateLimitedLog()
  /** Leases admitted while the shared store was down, until their last call. */
  const outageLeases = new Map<string, OutageLease>()
  const asStoreError = (operation: string) => (e: LimitStoreError | { readonly _tag: "DependencyUnavailable" }) =>
    e._tag === "LimitStoreError" ? e : new LimitStoreError({ operation, cause: e })

  const acquire: LimitStore["Service"]["acquire"] = (request) =>
    guard.run(shared.acquire(request)).pipe(
      Effect.mapError(asStoreError("acquire")),
      Effect.catch((error): Effect.Effect<AcquireResult, LimitStoreError> => {
        if (onOutage === "closed") return Effect.fail(error)
        // The lease's last call: the release of its parallel slot if it has one, else the last
        // reconcile of its tokens if it has a tpm limit, else none will come (nothing to keep).
        const lastCall = request.subjects.some((s) => s.parallel !== null) ? "release" : request.subjects.some((s) => s.tpm !== null) ? "reconcile" : undefined
        const remember = (where: OutageLease["where"]) => lastCall !== undefined && void outageLeases.set(request.leaseId, { where, lastCall })
        const announce = log(onOutage, "Warning", `gateway: ${guard.name} unavailable; rate limits ${onOutage === "local" ? "are counted in this process only" : "are not enforced"} until it is back (INFERLINE_LIMITS_ON_REDIS_DOWN=${onOutage})`, error.cause)
        if (onOutage === "open") {
          remember("open")
          return Effect.as(announce, { admitted: true, usage: request.subjects.map(() => NO_USAGE) })
        }
        return Effect.andThen(announce, Effect.tap(local.acquire(request), (r) => Effect.sync(() => r.admitted && remember("local"))))
      })
    )

  /** The call for a lease, to whichever store admitted it; `last` ends an outage lease's bookkeeping. */
  const route = (leaseId: string, last: "release" | "reconcile" | undefined, onShared: () => Effect.Effect<void, LimitStoreError>, onLocal: () => Effect.Effect<void, LimitStoreError>, operation: string) => {
    const lease = outageLeases.get(leaseId)
    if (lease === undefined) return guard.run(onShared()).pipe(Effect.mapError(asStoreError(operation)))
    if (last !== undefined && lease.lastCall === last) outageLeases.delete(leaseId)
    return lease.where === "local" ? onLocal() : Effect.void
  }

  return LimitStore.of({
    acquire,
    reconcile: (ids, leaseId, delta, last) =>
      route(leaseId, last === true ? "reconcile" : undefined, () => shared.reconcile(ids, leaseId, delta, last), () => local.reconcile(ids, leaseId, delta, last), "reconcile"),
    release: (ids, leaseId) => route(leaseId, "release", () => shared.release(ids, leaseId), () => local.release(ids, leaseId), "release"),
    refresh: (ids, leaseId) => route(leaseId, undefined, () => shared.refresh(ids, leaseId), () => local.refresh(ids, leaseId), "refresh"),
    peek: (subjects) =>
      guard.run(shared.peek(subjects)).pipe(
        Effect.mapError(asStoreError("peek")),
        Effect.catch((error) => (onOutage === "local" ? local.peek(subjects) : Effect.fail(error)))
      ),
    leaseTtlMs: shared.leaseTtlMs
  })
}
