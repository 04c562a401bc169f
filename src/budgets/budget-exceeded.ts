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
