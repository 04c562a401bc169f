import type { RouterSettingsResolved } from "./config.ts"
import type { DeploymentState } from "./deployment-state.ts"
import { isDeploymentFailure, type FailureKind } from "./failure-kind.ts"
import { rank } from "./strategies.ts"

/**
 * The router's decisions as pure functions of its settings and the deployments' state: which deployment
 * to try next, how often a failure is retried, where a request falls back to. router.ts runs them; they
 * are tested without HTTP (test/router/route-plan.test.ts).
 */

/** Whether a deployment has room under its max_parallel_requests. */
export const underParallelCap = (d: DeploymentState): boolean => d.config.maxParallelRequests === undefined || d.inFlight < d.config.maxParallelRequests

/** The strategy's ranking, regrouped by `order` (lowest first; unset last), stable within an order. */
export const byOrder = (ranked: ReadonlyArray<DeploymentState>): ReadonlyArray<DeploymentState> =>
  ranked.some((d) => d.config.order !== undefined)
    ? ranked.map((d, i) => [d, i] as const).sort(([a, i], [b, j]) => (a.config.order ?? Infinity) - (b.config.order ?? Infinity) || i - j).map(([d]) => d)
    : ranked

/**
 * The group's deployments in the order to try them now: available (not in cooldown, under their
 * parallel cap), ranked by the strategy, regrouped by order, and those not yet tried by this request
 * first (a retry goes elsewhere when it can; to the next order once a lower one was tried).
 */
export const candidates = (
  settings: Pick<RouterSettingsResolved, "strategy">,
  deployments: ReadonlyArray<DeploymentState>,
  tried: ReadonlySet<string>,
  context: { readonly now: number; readonly promptTokens: number; readonly random: () => number }
): ReadonlyArray<DeploymentState> => {
  const ranked = byOrder(rank(settings.strategy, deployments.filter((d) => d.breaker.isAvailable(context.now) && underParallelCap(d)), context))
  return [...ranked.filter((d) => !tried.has(d.config.id)), ...ranked.filter((d) => tried.has(d.config.id))]
}

/** How many times a failure of this kind is retried in its group (retry_policy, else num_retries for the deployment's own failures). */
export const retriesFor = (settings: Pick<RouterSettingsResolved, "retryPolicy" | "numRetries">, kind: FailureKind): number =>
  settings.retryPolicy.get(kind) ?? (isDeploymentFailure(kind) ? settings.numRetries : 0)

/**
 * The fallback groups for a failure of this kind, in order: the kind's own list (context window,
 * content policy), else the general one (none for the request's own faults); the group's entry, else
 * the `"*"` one. Only groups that exist (`exists`), never the group itself.
 */
export const fallbacksFor = (
  settings: Pick<RouterSettingsResolved, "fallbacks" | "contextWindowFallbacks" | "contentPolicyFallbacks">,
  group: string,
  kind: FailureKind,
  exists: (group: string) => boolean
): ReadonlyArray<string> => {
  const lists = kind === "context_window" ? settings.contextWindowFallbacks : kind === "content_policy" ? settings.contentPolicyFallbacks : undefined
  const specific = lists?.get(group) ?? lists?.get("*")
  const targets = specific ?? (kind === "bad_request" ? [] : settings.fallbacks.get(group) ?? settings.fallbacks.get("*") ?? [])
  return targets.filter((g) => g !== group && exists(g))
}
