import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** What the /ui dashboard shows from the ledger, over the last `days` days (aggregates and one scan). */
export const dashboardData = (days: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const since = new Date(Date.now() - days * 86_400_000)
    const sinceDay = since.toISOString().slice(0, 10)
    const byDay = yield* sql<{ day: Date | string; group_value: string; spend: number; requests: string }>`
      SELECT day, group_value, spend, requests FROM spend_daily WHERE group_kind = 'model' AND day >= ${sinceDay}::date ORDER BY day`
    const totals = (kind: string) =>
      sql<{ group_value: string; spend: number; requests: string }>`
        SELECT group_value, sum(spend) AS spend, sum(requests) AS requests FROM spend_daily
        WHERE group_kind = ${kind} AND day >= ${sinceDay}::date GROUP BY group_value ORDER BY sum(spend) DESC, group_value LIMIT 20`
    const byModel = yield* totals("model")
    const byKey = yield* totals("key")
    const byUser = yield* totals("user")
    const [latency] = yield* sql<Record<string, number | string | null>>`
      SELECT count(*) AS requests,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - start_time)) AS latency_p50,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - start_time)) AS latency_p90,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - start_time)) AS latency_p99,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_token_time - start_time)) AS ttft_p50,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_token_time - start_time)) AS ttft_p90,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM first_token_time - start_time)) AS ttft_p99,
        avg(CASE WHEN cached_input_tokens > 0 THEN 1 ELSE 0 END) AS prefix_hit_rate,
        avg(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS response_cache_hit_rate,
        coalesce(sum(saved_cost), 0) AS response_cache_saved_usd,
        sum(cached_input_tokens)::float8 / nullif(sum(input_tokens), 0) AS cached_token_share
      FROM spend_logs WHERE start_time >= ${since}`
    const n = (v: unknown) => (v === null || v === undefined ? null : Number(v))
    return {
      days,
      spend_by_day: byDay.map((r) => ({ day: typeof r.day === "string" ? r.day : r.day.toISOString().slice(0, 10), model: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      spend_by_model: byModel.map((r) => ({ model: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      spend_by_key: byKey.map((r) => ({ key: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      /** End users (OpenAI's `user`, x-inferline-user), the 20 that spent most. */
      spend_by_user: byUser.map((r) => ({ user: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      requests: Number(latency?.requests ?? 0),
      latency_seconds: { p50: n(latency?.latency_p50), p90: n(latency?.latency_p90), p99: n(latency?.latency_p99) },
      ttft_seconds: { p50: n(latency?.ttft_p50), p90: n(latency?.ttft_p90), p99: n(latency?.ttft_p99) },
      /** Requests with some prompt tokens from the engine's prefix cache. */
      prefix_hit_rate: n(latency?.prefix_hit_rate),
      /** Requests answered from the gateway's response cache. */
      response_cache_hit_rate: n(latency?.response_cache_hit_rate),
      /** What the answers served from the response cache cost when they were made. */
      response_cache_saved_usd: n(latency?.response_cache_saved_usd) ?? 0,
      cached_token_share: n(latency?.cached_token_share)
    }
  })
