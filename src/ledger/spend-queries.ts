import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export interface SpendLogFilter {
  /** The server's id of one request. */
  readonly requestId?: string | undefined
  /** Every request that carried this x-request-id. */
  readonly clientRequestId?: string | undefined
  readonly keyId?: string | undefined
  readonly teamId?: string | undefined
  /** The end user (OpenAI's `user`, x-inferline-user). */
  readonly endUser?: string | undefined
  readonly model?: string | undefined
  readonly since?: Date | undefined
  readonly until?: Date | undefined
  /** Newest first; default 100, at most 1000. */
  readonly limit?: number | undefined
}

export const SPEND_GROUPS = ["key", "team", "model", "tag", "user"] as const
export type SpendGroup = (typeof SPEND_GROUPS)[number]

/** Ledger rows, newest first; every filter is served by an index (the primary key, or (column, start_time)). */
export const spendLogs = (filter: SpendLogFilter) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const conditions = [
      filter.requestId === undefined ? undefined : sql`request_id = ${filter.requestId}`,
      filter.clientRequestId === undefined ? undefined : sql`client_request_id = ${filter.clientRequestId}`,
      filter.keyId === undefined ? undefined : sql`key_id = ${filter.keyId}`,
      filter.teamId === undefined ? undefined : sql`team_id = ${filter.teamId}`,
      filter.endUser === undefined ? undefined : sql`end_user = ${filter.endUser}`,
      filter.model === undefined ? undefined : sql`model_group = ${filter.model}`,
      filter.since === undefined ? undefined : sql`start_time >= ${filter.since}`,
      filter.until === undefined ? undefined : sql`start_time < ${filter.until}`
    ].filter((c) => c !== undefined)
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000)
    return yield* sql`SELECT * FROM spend_logs WHERE ${sql.and(conditions)} ORDER BY start_time DESC LIMIT ${limit}`
  })

export interface SpendReportRow {
  readonly group: string
  readonly day: string
  readonly requests: number
  readonly input_tokens: number
  readonly cached_input_tokens: number
  readonly output_tokens: number
  readonly spend: number
}

/** Daily totals per key, team or model from the aggregates (never a scan of spend_logs). */
export const spendReport = (groupBy: SpendGroup, range: { readonly since?: Date | undefined; readonly until?: Date | undefined } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const conditions = [
      sql`group_kind = ${groupBy}`,
      range.since === undefined ? undefined : sql`day >= ${range.since}::date`,
      range.until === undefined ? undefined : sql`day <= ${range.until}::date`
    ].filter((c) => c !== undefined)
    const rows = yield* sql<{ group_value: string; day: Date | string; requests: string; input_tokens: string; cached_input_tokens: string; output_tokens: string; spend: number }>`
      SELECT group_value, day, requests, input_tokens, cached_input_tokens, output_tokens, spend
      FROM spend_daily WHERE ${sql.and(conditions)} ORDER BY day, group_value`
    return rows.map((r): SpendReportRow => ({
      group: r.group_value,
      day: typeof r.day === "string" ? r.day : r.day.toISOString().slice(0, 10),
      requests: Number(r.requests),
      input_tokens: Number(r.input_tokens),
      cached_input_tokens: Number(r.cached_input_tokens),
      output_tokens: Number(r.output_tokens),
      spend: Number(r.spend)
    }))
  })

/** Spend of a key or a team since a moment (budgets load it once per period, then count in memory). */
export const spentSince = (subject: "key" | "team", id: string, since: Date) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = subject === "key"
      ? yield* sql<{ spent: number | null }>`SELECT sum(cost) AS spent FROM spend_logs WHERE key_id = ${id} AND start_time >= ${since}`
      : yield* sql<{ spent: number | null }>`SELECT sum(cost) AS spent FROM spend_logs WHERE team_id = ${id} AND start_time >= ${since}`
    return Number(rows[0]?.spent ?? 0)
  })
