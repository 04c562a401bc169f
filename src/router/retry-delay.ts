/**
 * The wait before retry number `retry` (1 = the first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so that retries of many requests spread out
 * instead of hitting a recovering upstream together. An upstream's Retry-After is honoured up to `maxMs`.
 */
export const retryDelayMs = (retry: number, baseMs: number, maxMs: number, retryAfterMs: number | undefined, random: () => number): number => {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1))
  const jittered = exponential / 2 + (exponential / 2) * random()
  return Math.round(Math.min(maxMs, Math.max(jittered, retryAfterMs ?? 0)))
}
