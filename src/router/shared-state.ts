import { Context, Effect, type Scope } from "effect"
import { createHash } from "node:crypto"
import type { DeploymentConfig } from "./config.ts"

/**
 * The router state that matters across replicas (several `inferline serve` behind one load balancer):
 * cooldowns, and requests and tokens per deployment per minute (usage-based routing keeps the sum of
 * all replicas under a deployment's rpm/tpm). Alone (the default) each replica keeps its own; with
 * REDIS_URL they share it through Redis (redis-router-state.ts). Every operation falls back to the
 * replica's own state when the shared store does not answer: a Redis outage never stops routing.
 */
export interface RouterSharedStateService {
  /** A deployment entered cooldown on this replica until `until` (epoch ms): tell the others. */
  readonly publishCooldown: (deploymentId: string, until: number) => Effect.Effect<void>
  /** Calls `onCooldown` for cooldowns entered on any replica (ones still running at start included), for as long as the scope lasts. */
  readonly listenCooldowns: (deploymentIds: ReadonlyArray<string>, onCooldown: (deploymentId: string, until: number) => void) => Effect.Effect<void, never, Scope.Scope>
  /** Counts one request to the deployment in `minute` over all replicas: the count with it, or undefined when unknown. */
  readonly countRequest: (deploymentId: string, minute: number) => Effect.Effect<number | undefined>
  /** Adds tokens to the deployment's `minute` over all replicas: the total, or undefined when unknown. */
  readonly countTokens: (deploymentId: string, minute: number, tokens: number) => Effect.Effect<number | undefined>
  /**
   * Takes one of the deployment's `cap` parallel slots over all replicas for `leaseId`, held for `ttlMs`
   * unless refreshed (a replica that dies holding slots frees them that way): true when taken, false when
   * all are in use, undefined when unknown.
   */
  readonly acquireSlot: (deploymentId: string, leaseId: string, cap: number, ttlMs: number) => Effect.Effect<boolean | undefined>
  readonly refreshSlots: (slots: ReadonlyArray<{ readonly deploymentId: string; readonly leaseId: string }>, ttlMs: number) => Effect.Effect<void>
  readonly releaseSlot: (deploymentId: string, leaseId: string) => Effect.Effect<void>
}

export const RouterSharedState = Context.Reference<RouterSharedStateService | undefined>("inferline/router/RouterSharedState", {
  defaultValue: () => undefined
})

/**
 * A deployment's name in the shared state: its id with a digest of where it sends requests, so the
 * replicas of one config share it and another config on the same Redis (its own `remote/0` pointing
 * elsewhere) does not.
 */
export const sharedDeploymentKey = (d: Pick<DeploymentConfig, "id" | "apiBase" | "model" | "provider">): string =>
  `${d.id}@${createHash("sha256").update(`${d.provider}\n${d.apiBase}\n${d.model}`).digest("hex").slice(0, 16)}`
