import { Context, Data, type Effect } from "effect"

/**
 * Rate limits are sliding 60 s windows kept as logs: every admitted request is an entry (time, lease id,
 * tokens), a limit compares the entries of the last 60 s with it. This is exact — no window boundary
 * lets 2x the limit through, as fixed windows do — and its cost is one entry per admitted request for as
 * long as the window holds it. Rejected requests leave no entry.
 */
export const DEFAULT_WINDOW_MS = 60_000

/** One rate-limited holder (a key or a team) and its limits; null: not limited on that axis. */
export interface Subject {
  /** Stable and unique across holders, e.g. `key:<uuid>`, `team:<uuid>`. */
  readonly id: string
  readonly rpm: number | null
  readonly tpm: number | null
  readonly parallel: number | null
}

/** A subject's usage as seen by an acquire or a peek (after the acquire's own entry, when admitted). */
export interface SubjectUsage {
  /** Requests in the window. */
  readonly requests: number
  /** Tokens in the window: estimates, replaced by actual counts as requests reconcile. */
  readonly tokens: number
  /** Milliseconds until the window is empty again (its newest entry leaves it). */
  readonly resetMs: number
  /** Parallel requests holding a slot. */
  readonly parallel: number
}

export type Axis = "requests" | "tokens" | "parallel"

export type AcquireResult =
  | { readonly admitted: true; readonly usage: ReadonlyArray<SubjectUsage> }
  | {
    readonly admitted: false
    /** Index into the subjects of the first limit that refused. */
    readonly subject: number
    readonly axis: Axis
    /** When a retry could succeed if nothing else arrives meanwhile. */
    readonly retryAfterMs: number
    readonly usage: ReadonlyArray<SubjectUsage>
  }

export class LimitStoreError extends Data.TaggedError("LimitStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/**
 * Where rate-limit state lives. `acquire` checks every limit of every subject and, only if all pass,
 * records the request under every subject: one atomic step, so concurrent requests (on any instance that
 * shares the store) can never together exceed a limit, and a refusal by the team costs the key nothing.
 */
export class LimitStore extends Context.Service<LimitStore, {
  readonly acquire: (request: {
    readonly subjects: ReadonlyArray<Subject>
    readonly leaseId: string
    readonly tokens: number
  }) => Effect.Effect<AcquireResult, LimitStoreError>
  /**
   * Adds `deltaTokens` (may be negative) to the lease's entry, in the window it was admitted in. `last`:
   * the request is over and the lease will not be reconciled again, so a store may forget which entry
   * it was (the caller makes this last call even when the delta is 0).
   */
  readonly reconcile: (subjectIds: ReadonlyArray<string>, leaseId: string, deltaTokens: number, last?: boolean) => Effect.Effect<void, LimitStoreError>
  /** Frees the lease's parallel slots. */
  readonly release: (subjectIds: ReadonlyArray<string>, leaseId: string) => Effect.Effect<void, LimitStoreError>
  /**
   * Extends the lease's parallel slots. A shared store gives slots an expiry so that an instance that
   * dies holding them does not leak them forever; holders refresh while they run (`leaseTtlMs`).
   */
  readonly refresh: (subjectIds: ReadonlyArray<string>, leaseId: string) => Effect.Effect<void, LimitStoreError>
  readonly peek: (subjects: ReadonlyArray<Subject>) => Effect.Effect<ReadonlyArray<SubjectUsage>, LimitStoreError>
  /** Lifetime of an unrefreshed parallel slot; undefined when slots never expire (in-process stores). */
  readonly leaseTtlMs: number | undefined
}>()("inferline/gateway/LimitStore") {}
