import { Effect, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import type { DeploymentState } from "./deployment-state.ts"
import { sharedDeploymentKey, type RouterSharedStateService } from "./shared-state.ts"

/** How long a parallel slot in the shared state lives unless refreshed (every third of it while held). */
const SLOT_TTL_MS = 30_000
const MINUTE_MS = 60_000

interface Slot {
  readonly deploymentId: string
  readonly leaseId: string
}

/**
 * The router's admission of an attempt to a deployment over all replicas (shared state, Redis): with
 * usage-based routing its rpm counted per minute and its tpm after the attempt; its max_parallel_requests
 * as slots with a lease that expires unless refreshed. What Redis does not answer is left to this
 * replica's own counts (the router's local checks ran before). `request` identifies one client request
 * (its RouteRequest object): a slot is released when that request's attempt on the deployment ends.
 */
export const makeSharedAdmission = (shared: RouterSharedStateService, usageBased: boolean) => {
  const slotsOf = new WeakMap<object, Map<string, Slot>>()
  const liveSlots = new Set<Slot>()

  const takeSlot = Effect.fnUntraced(function*(d: DeploymentState, request: object) {
    const slot = { deploymentId: sharedDeploymentKey(d.config), leaseId: randomUUID() }
    const taken = yield* shared.acquireSlot(slot.deploymentId, slot.leaseId, d.config.maxParallelRequests!, SLOT_TTL_MS)
    if (taken === false) return false
    if (taken === true) {
      liveSlots.add(slot)
      let held = slotsOf.get(request)
      if (held === undefined) slotsOf.set(request, (held = new Map()))
      held.set(d.config.id, slot)
    }
    return true
  })

  /** Whether the replicas together leave room for one more attempt on `d` now (the breaker already let it through). */
  const admit = Effect.fnUntraced(function*(d: DeploymentState, request: object, now: number) {
    if (usageBased && d.config.rpm !== undefined) {
      const count = yield* shared.countRequest(sharedDeploymentKey(d.config), Math.floor(now / MINUTE_MS))
      if (count !== undefined && count > d.config.rpm) {
        d.syncUsage(now, { requests: count })
        return false
      }
      // begin() counts this request on top.
      if (count !== undefined) d.syncUsage(now, { requests: count - 1 })
    }
    return d.config.maxParallelRequests === undefined || (yield* takeSlot(d, request))
  })

  /** The attempt on `d` is over, having used `tokens`: its slot is given back, its tokens counted. */
  const end = (d: DeploymentState, request: object, now: number, tokens: number): Effect.Effect<void> => {
    const slot = slotsOf.get(request)?.get(d.config.id)
    if (slot !== undefined) {
      slotsOf.get(request)!.delete(d.config.id)
      liveSlots.delete(slot)
    }
    const release = slot === undefined ? Effect.void : shared.releaseSlot(slot.deploymentId, slot.leaseId)
    const counted = usageBased && d.config.tpm !== undefined
      ? Effect.map(shared.countTokens(sharedDeploymentKey(d.config), Math.floor(now / MINUTE_MS), tokens), (total) => d.syncUsage(now, { tokens: total }))
      : Effect.void
    return Effect.andThen(release, counted)
  }

  /** Keeps the held slots alive, for as long as the scope lasts. */
  const refresh: Effect.Effect<void, never, Scope.Scope> = Effect.asVoid(Effect.forkScoped(Effect.forever(
    Effect.andThen(Effect.sleep(SLOT_TTL_MS / 3), Effect.suspend(() => shared.refreshSlots([...liveSlots], SLOT_TTL_MS)))
  )))

  return { admit, end, refresh }
}
