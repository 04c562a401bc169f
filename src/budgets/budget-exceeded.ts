import { GatewayError } from "../gateway/errors.ts"

/**
 * The refusal once a hard budget is spent. A 400 like LiteLLM's rather than a 429: OpenAI's SDKs retry
 * every 429 automatically, and retrying cannot help until the period resets or the budget is raised.
 */
export const budgetExceeded = (holder: "key" | "team", spent: number, budget: number, resetsAt: Date | null) =>
  new GatewayError({
    reason: "budget_exceeded",
    code: "budget_exceeded",
    message: `This API ${holder} has spent ${spent.toFixed(6)} of its budget of ${budget}` +
      (resetsAt === null ? "." : `; the budget resets at ${resetsAt.toISOString()}.`),
    param: null
  })

/**
 * The refusal when a key's or team's spend cannot be read (the database is down or hung) and nothing
 * is known of it this period: unavailable (503, retry shortly) rather than letting the request through
 * as if nothing had been spent, which is how a budget of 0.05 once let 0.112 through.
 */
export const budgetUnavailable = (holder: "key" | "team") =>
  new GatewayError({
    reason: "unavailable",
    code: "budget_unavailable",
    message: `This API ${holder}'s budget cannot be checked right now (its spend cannot be read); retry shortly.`,
    param: null,
    retryAfterMs: 1000
  })
