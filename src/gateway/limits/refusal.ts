import type { Axis } from "./limit-store.ts"

/** Seconds-scale guess for a parallel slot: nobody knows when a running request ends. */
export const PARALLEL_RETRY_MS = 1_000

/**
 * Whether one subject refuses a request costing one request and `cost` tokens, and when a retry could
 * pass. Checked in order requests, tokens, parallel; the Redis script implements the same rule in Lua.
 * `waitMs(requests, tokens)` says how long until that much has left the window (Infinity: never).
 */
export const refusal = (
  limits: { readonly rpm: number | null; readonly tpm: number | null; readonly parallel: number | null },
  requests: number,
  tokens: number,
  parallel: number,
  cost: number,
  windowMs: number,
  waitMs: (requests: number, tokens: number) => number
): { readonly axis: Axis; readonly retryAfterMs: number } | undefined => {
  const bounded = (ms: number) => (Number.isFinite(ms) ? ms : windowMs)
  if (limits.rpm !== null && requests + 1 > limits.rpm) {
    return { axis: "requests", retryAfterMs: bounded(waitMs(requests + 1 - limits.rpm, 0)) }
  }
  if (limits.tpm !== null && tokens + cost > limits.tpm) {
    // A request larger than the whole limit never fits; the window is the honest "later" to report.
    const ms = cost > limits.tpm ? windowMs : waitMs(0, tokens + cost - limits.tpm)
    return { axis: "tokens", retryAfterMs: bounded(ms) }
  }
  if (limits.parallel !== null && parallel + 1 > limits.parallel) {
    return { axis: "parallel", retryAfterMs: PARALLEL_RETRY_MS }
  }
  return undefined
}
