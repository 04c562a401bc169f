import type { BudgetDuration } from "../gateway/records.ts"

/**
 * Start of the budget period containing `nowMs`, in UTC: the day, the ISO week (Monday) or the month.
 * No duration: the budget never resets, its period starts at the epoch.
 */
export const periodStart = (duration: BudgetDuration | null, nowMs: number): Date => {
  const now = new Date(nowMs)
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  switch (duration) {
    case null:
      return new Date(0)
    case "daily":
      return new Date(day)
    case "weekly":
      return new Date(day - ((now.getUTCDay() + 6) % 7) * 86_400_000)
    case "monthly":
      return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
  }
}

/** When the period containing `nowMs` ends (the next reset); null for a budget that never resets. */
export const periodEnd = (duration: BudgetDuration | null, nowMs: number): Date | null => {
  const start = periodStart(duration, nowMs)
  switch (duration) {
    case null:
      return null
    case "daily":
      return new Date(start.getTime() + 86_400_000)
    case "weekly":
      return new Date(start.getTime() + 7 * 86_400_000)
    case "monthly":
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1))
  }
}
