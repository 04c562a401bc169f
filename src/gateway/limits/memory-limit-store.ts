import { Clock, Effect, Layer } from "effect"
import { DEFAULT_WINDOW_MS, LimitStore, type AcquireResult, type Subject, type SubjectUsage } from "./limit-store.ts"
import { SlidingLog } from "./sliding-log.ts"
import { refusal } from "./refusal.ts"

interface SubjectState {
  readonly log: SlidingLog
  /** Leases holding a parallel slot. */
  readonly leases: Set<string>
  /** Leases whose tokens may still be reconciled, with their entry in the log (until their last reconcile). */
  readonly reconcilable: Map<string, number>
}

/**
 * Limits of this process only, in memory. Every operation is synchronous, which makes acquire atomic
 * with respect to other fibers. Time comes from Effect's Clock, so TestClock can drive windows in tests.
 */
export const makeMemoryLimitStore = (options: { readonly windowMs?: number } = {}) =>
  Effect.sync(() => {
    const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
    const states = new Map<string, SubjectState>()

    const state = (id: string): SubjectState => {
      let s = states.get(id)
      if (s === undefined) {
        s = { log: new SlidingLog(windowMs), leases: new Set(), reconcilable: new Map() }
        states.set(id, s)
      }
      return s
    }
    /** Forget subjects with nothing left in their window, so idle keys cost no memory. */
    const tidy = (id: string, s: SubjectState) => {
      if (s.log.isEmpty && s.leases.size === 0 && s.reconcilable.size === 0) states.delete(id)
    }
    const usageOf = (s: SubjectState, now: number): SubjectUsage => ({
      requests: s.log.requests,
      tokens: s.log.tokens,
      resetMs: s.log.resetMs(now),
      parallel: s.leases.size
    })

    const acquire = (subjects: ReadonlyArray<Subject>, leaseId: string, tokens: number, now: number): AcquireResult => {
      const current = subjects.map((subject) => {
        const s = state(subject.id)
        s.log.prune(now)
        return s
      })
      for (let i = 0; i < subjects.length; i++) {
        const { rpm, tpm, parallel } = subjects[i]
        const s = current[i]
        const refused = refusal({ rpm, tpm, parallel }, s.log.requests, s.log.tokens, s.leases.size, tokens, windowMs, (requests, toks) =>
          s.log.waitMs(now, requests, toks))
        if (refused !== undefined) {
          const usage = current.map((c) => usageOf(c, now))
          subjects.forEach((subject, j) => tidy(subject.id, current[j]))
          return { admitted: false, subject: i, ...refused, usage }
        }
      }
      subjects.forEach((subject, i) => {
        const s = current[i]
        if (subject.rpm !== null || subject.tpm !== null) {
          const entry = s.log.add(now, tokens)
          if (subject.tpm !== null) s.reconcilable.set(leaseId, entry)
        }
        if (subject.parallel !== null) s.leases.add(leaseId)
      })
      return { admitted: true, usage: current.map((c) => usageOf(c, now)) }
    }

    return LimitStore.of({
      acquire: ({ subjects, leaseId, tokens }) => Effect.map(Clock.currentTimeMillis, (now) => acquire(subjects, leaseId, tokens, now)),
      reconcile: (ids, leaseId, delta, last) =>
        Effect.sync(() => {
          for (const id of ids) {
            const s = states.get(id)
            const entry = s?.reconcilable.get(leaseId)
            if (s === undefined || entry === undefined) continue
            s.log.adjust(entry, delta)
            if (last) {
              s.reconcilable.delete(leaseId)
              tidy(id, s)
            }
          }
        }),
      release: (ids, leaseId) =>
        Effect.sync(() => {
          for (const id of ids) {
            const s = states.get(id)
            if (s === undefined) continue
            s.leases.delete(leaseId)
            tidy(id, s)
          }
        }),
      refresh: () => Effect.void,
      peek: (subjects) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          subjects.map(({ id }) => {
            const s = states.get(id)
            if (s === undefined) return { requests: 0, tokens: 0, resetMs: 0, parallel: 0 }
            s.log.prune(now)
            const usage = usageOf(s, now)
            tidy(id, s)
            return usage
          })),
      leaseTtlMs: undefined
    })
  })

export const memoryLimitStoreLayer = (options: { readonly windowMs?: number } = {}): Layer.Layer<LimitStore> =>
  Layer.effect(LimitStore, makeMemoryLimitStore(options))
