import { Effect } from "effect"

/** How often one recurring problem may be logged (default of `rateLimitedLog`). */
export const LOG_REPEAT_INTERVAL_MS = 10_000

export type RateLimitedLog = (key: string, level: "Error" | "Warning", message: string, cause?: unknown) => Effect.Effect<void>

/**
 * A log for problems that recur on every request while they last (a database or Redis outage, a full
 * disk): each `key` is logged at most once per `intervalMs`, and the next line says how many were left
 * out meanwhile. Without it, an outage under load wrote thousands of multi-line stack traces a minute
 * (1,749 in 20 s in issue 16's campaign) and buried the first one, which says what happened. Keys are
 * fixed strings chosen by the caller (a few per feature), so the map stays small.
 */
export const rateLimitedLog = (intervalMs = LOG_REPEAT_INTERVAL_MS): RateLimitedLog => {
  const seen = new Map<string, { at: number; left: number }>()
  return (key, level, message, cause) =>
    Effect.suspend(() => {
      const now = Date.now()
      const last = seen.get(key)
      if (last !== undefined && now - last.at < intervalMs) {
        last.left++
        return Effect.void
      }
      seen.set(key, { at: now, left: 0 })
      const text = last !== undefined && last.left > 0
        ? `${message} (and ${last.left} more like it in the last ${Math.round((now - last.at) / 1000)} s, not logged)`
        : message
      const args = cause === undefined ? [text] : [text, cause]
      return level === "Error" ? Effect.logError(...args) : Effect.logWarning(...args)
    })
}
