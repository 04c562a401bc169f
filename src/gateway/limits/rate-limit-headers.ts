import type { Subject, SubjectUsage } from "./limit-store.ts"

/**
 * A duration the way OpenAI's x-ratelimit-reset-* headers write it (Go's format): `250ms`, `1.5s`,
 * `6m0s`. Clients that parse these (the Python SDK's helpers, LangChain) expect exactly this shape.
 */
export const formatResetDuration = (ms: number): string => {
  const whole = Math.max(0, Math.ceil(ms))
  if (whole < 1000) return `${whole}ms`
  const minutes = Math.floor(whole / 60_000)
  const seconds = Number(((whole % 60_000) / 1000).toFixed(3))
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`
}

/**
 * OpenAI's rate-limit headers for the most constrained subject on each axis (the key or its team,
 * whichever has less room left). An axis with no limit on any subject gets no headers.
 * `x-ratelimit-reset-*` is the time until the window is empty again, OpenAI's "resets to its initial state".
 */
export const rateLimitHeaders = (subjects: ReadonlyArray<Subject>, usage: ReadonlyArray<SubjectUsage>): Record<string, string> => {
  const headers: Record<string, string> = {}
  const axis = (name: "requests" | "tokens", limitOf: (s: Subject) => number | null, usedOf: (u: SubjectUsage) => number) => {
    let best: { limit: number; remaining: number; resetMs: number } | undefined
    subjects.forEach((s, i) => {
      const limit = limitOf(s)
      if (limit === null) return
      const remaining = Math.max(0, limit - usedOf(usage[i]))
      if (best === undefined || remaining < best.remaining) best = { limit, remaining, resetMs: usage[i].resetMs }
    })
    if (best === undefined) return
    headers[`x-ratelimit-limit-${name}`] = String(best.limit)
    headers[`x-ratelimit-remaining-${name}`] = String(best.remaining)
    headers[`x-ratelimit-reset-${name}`] = formatResetDuration(best.resetMs)
  }
  axis("requests", (s) => s.rpm, (u) => u.requests)
  axis("tokens", (s) => s.tpm, (u) => u.tokens)
  return headers
}

/** `Retry-After` in whole seconds (at least 1, as clients treat 0 as "now"), plus the millisecond form the OpenAI SDKs prefer. */
export const retryAfterHeaders = (ms: number): Record<string, string> => ({
  "retry-after": String(Math.max(1, Math.ceil(ms / 1000))),
  "retry-after-ms": String(Math.max(0, Math.ceil(ms)))
})
