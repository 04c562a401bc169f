import { randomBytes } from "node:crypto"
import { Effect, type Scope } from "effect"
import { rateLimitedLog, type RateLimitedLog } from "../effect/rate-limited-log.ts"
import { addFinalizerExit } from "../effect/scope-finalizer.ts"
import { gatewayUnavailable, rateLimited, type GatewayError } from "./errors.ts"
import { LimitStore, type AcquireResult, type Subject } from "./limits/limit-store.ts"
import { formatResetDuration, rateLimitHeaders } from "./limits/rate-limit-headers.ts"
import type { Principal } from "./principal.ts"
import type { Limits } from "./records.ts"

/**
 * An admitted request's hold on its limits. Closing the scope `admit` ran in frees its parallel slots;
 * its requests and tokens stay in the window, as they should.
 */
export interface Permit {
  /** x-ratelimit-* as of admission, for the response. */
  readonly headers: Readonly<Record<string, string>>
  /** Tokens reserved at admission (the estimate). */
  readonly reservedTokens: number
  /**
   * Ends the request's admission with the tokens it used (prompt + completion) in place of the
   * estimate, and frees its parallel slot now rather than when the scope closes (the scope of an HTTP
   * handler closes only after the response has been sent, so a client quick to send its next request
   * could still find the slot taken). Idempotent; a permit never settled is settled with its estimate
   * when its scope closes. In memory, the token count and the slot one after the other.
   * With a shared store (Redis) the two are sent together and not waited for: the response does not pay
   * a round trip for them (bench/gateway.ts with REDIS_URL). They are queued on this process's Redis
   * connection before the response is written, so this instance's next acquire is ordered after them,
   * and another instance's can only overtake them if the client's next request reaches it and its
   * acquire reaches Redis faster than one command written here reaches Redis. Failures are logged.
   */
  readonly settle: (actualTokens: number) => Effect.Effect<void>
}

const unlimitedPermit: Permit = { headers: {}, reservedTokens: 0, settle: () => Effect.void }

interface Holder {
  readonly subject: Subject
  readonly kind: "key" | "team"
}

const holderOf = (kind: "key" | "team", id: string, limits: Limits): Holder | undefined =>
  limits.rpm_limit === null && limits.tpm_limit === null && limits.max_parallel_requests === null
    ? undefined
    : { kind, subject: { id: `${kind}:${id}`, rpm: limits.rpm_limit, tpm: limits.tpm_limit, parallel: limits.max_parallel_requests } }

/** The rate-limited holders behind a principal: its key, then its team (only those with a limit set). */
export const holdersOf = (p: Principal): ReadonlyArray<Holder> => {
  if (p._tag !== "Key") return []
  const key = holderOf("key", p.key.id, p.key)
  const team = p.team === null ? undefined : holderOf("team", p.team.id, p.team)
  return [key, team].filter((h) => h !== undefined)
}

/** The 429 for a refusal, worded like OpenAI's, with Retry-After and x-ratelimit-* headers. */
export const refusalError = (holders: ReadonlyArray<Holder>, result: Extract<AcquireResult, { admitted: false }>, cost: number): GatewayError => {
  const { subject, kind } = holders[result.subject]
  const used = result.usage[result.subject]
  const headers = rateLimitHeaders(holders.map((h) => h.subject), result.usage)
  const retry = result.retryAfterMs
  const wait = `Please try again in ${formatResetDuration(result.retryAfterMs)}.`
  switch (result.axis) {
    case "requests":
      return rateLimited("requests", `Rate limit reached for requests per minute (RPM) on this API ${kind}: Limit ${subject.rpm}, Used ${used.requests}, Requested 1. ${wait}`, retry, headers)
    case "tokens":
      return cost > (subject.tpm ?? Infinity)
        ? rateLimited("tokens", `Request too large for tokens per minute (TPM) on this API ${kind}: Limit ${subject.tpm}, Requested ${cost}. Send a shorter prompt or a smaller max_tokens.`, retry, headers)
        : rateLimited("tokens", `Rate limit reached for tokens per minute (TPM) on this API ${kind}: Limit ${subject.tpm}, Used ${used.tokens}, Requested ${cost}. ${wait}`, retry, headers)
    case "parallel":
      return rateLimited("requests", `Too many parallel requests on this API ${kind}: Limit ${subject.parallel}, Active ${used.parallel}. Please try again when one of them finishes.`, retry, headers)
  }
}

/**
 * Lease ids: unique across instances (a random per-process prefix: leases of every instance meet in Redis)
 * and cheap to keep. The limit window holds one per request for a minute; a randomUUID is a rope of
 * about fifteen string pieces on the heap, this is one flat prefix and a short counter.
 */
const leasePrefix = randomBytes(12).toString("base64url")
let leaseCounter = 0
const nextLeaseId = () => leasePrefix + (leaseCounter++).toString(36)

/**
 * The parallel slots of running requests in a store whose slots expire (Redis), kept alive by one fiber
 * for the whole process: every third of the lease TTL it refreshes each live lease (lease id -> the
 * subjects holding a slot for it). An instance that dies stops refreshing, and its slots expire. Requests
 * only add and remove their lease: no fiber, timer or finalizer of their own. Undefined for stores whose
 * slots never expire (memory).
 */
const leaseRefresher = (store: LimitStore["Service"], log: RateLimitedLog): Effect.Effect<Map<string, ReadonlyArray<string>> | undefined, never, Scope.Scope> => {
  const ttl = store.leaseTtlMs
  if (ttl === undefined) return Effect.succeed(undefined)
  const live = new Map<string, ReadonlyArray<string>>()
  const refreshAll = Effect.suspend(() =>
    Effect.forEach([...live], ([leaseId, ids]) =>
      store.refresh(ids, leaseId).pipe(Effect.catch((e) => log("refresh", "Warning", "gateway: could not refresh a parallel slot", e.cause))), { discard: true })
  )
  return Effect.as(Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(ttl / 3), refreshAll))), live)
}

/**
 * Admission against the principal's key and team limits in one atomic store step. A parallel slot is
 * released when the caller's scope closes (response finished, failed or interrupted); with a store whose
 * slots expire (Redis) the process's lease refresher keeps the slot alive until it is released.
 */
export const makeAdmit = (store: LimitStore["Service"], log: RateLimitedLog = rateLimitedLog()): Effect.Effect<(principal: Principal, request: { readonly estimatedTokens: number }) => Effect.Effect<Permit, GatewayError, Scope.Scope>, never, Scope.Scope> =>
  Effect.map(leaseRefresher(store, log), (live) => Effect.fnUntraced(function*(principal: Principal, request: { readonly estimatedTokens: number }) {
    const holders = holdersOf(principal)
    if (holders.length === 0) return unlimitedPermit
    const subjects = holders.map((h) => h.subject)
    const parallelIds = subjects.filter((s) => s.parallel !== null).map((s) => s.id)
    const tokenIds = subjects.filter((s) => s.tpm !== null).map((s) => s.id)
    const leaseId = nextLeaseId()
    const tokens = Math.max(0, Math.ceil(request.estimatedTokens))

    // The lease's closing is taken eagerly by whoever comes first, settle or the scope's close (takeClose
    // marks it closed when called and returns the store calls still to run), so a settle that hands its
    // store calls to a detached fiber (Redis) can never race the scope's finalizer over them. The last
    // reconcile lets a store forget the lease; the release frees its parallel slots.
    let closed = false
    const takeClose = (actualTokens: number): ReadonlyArray<Effect.Effect<void>> => {
      if (closed) return []
      closed = true
      live?.delete(leaseId)
      const delta = Math.max(0, Math.ceil(actualTokens)) - tokens
      return [
        tokenIds.length === 0
          ? Effect.void
          : store.reconcile(tokenIds, leaseId, delta, true).pipe(Effect.catch((e) => log("reconcile", "Warning", "gateway: could not reconcile token usage", e.cause))),
        parallelIds.length === 0
          ? Effect.void
          : store.release(parallelIds, leaseId).pipe(Effect.catch((e) => log("release", "Warning", "gateway: could not release a parallel slot", e.cause)))
      ]
    }
    // Acquire and register the lease's closing without a gap (uninterruptible), so an admitted lease
    // always gets its release, and its last reconcile (a no-op if settle made it) so the store can forget
    // it even when the caller never settles. Not Effect.acquireRelease: see addFinalizerExit.
    const result = yield* Effect.uninterruptible(store.acquire({ subjects, leaseId, tokens }).pipe(
      Effect.tap((r) => (r.admitted ? addFinalizerExit(() => Effect.suspend(() => Effect.all(takeClose(tokens), { discard: true }))) : Effect.void)),
      // An outage fails every rate-limited request alike: logged once per interval, not per request.
      Effect.tapError((e) => log("acquire", "Error", "gateway: limit store unavailable; rate-limited requests get 503 while it is", e.cause)),
      Effect.mapError(() => gatewayUnavailable("rate-limit store"))
    ))
    if (!result.admitted) return yield* refusalError(holders, result, tokens)

    // A slot that expires (Redis) is kept alive by the process's lease refresher until released.
    if (live !== undefined && parallelIds.length > 0 && !closed) live.set(leaseId, parallelIds)

    const settle = (actualTokens: number) =>
      Effect.suspend(() => {
        const closing = takeClose(actualTokens)
        return store.leaseTtlMs === undefined
          ? Effect.all(closing, { discard: true })
          // Each started at once in its own fiber, so both commands are on the connection before this
          // request's response is written (a deferred start, or one waiting for the other's reply,
          // would let the client's next request overtake them).
          : Effect.forEach(closing, (call) => Effect.forkDetach(call, { startImmediately: true }), { discard: true })
      })

    return { headers: rateLimitHeaders(subjects, result.usage), reservedTokens: tokens, settle }
  }))
