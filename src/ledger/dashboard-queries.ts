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
    // Keys and teams by their names (the ids are UUIDs nobody recognizes); a deleted one by its id.
    const byKey = yield* sql<{ group_value: string; spend: number; requests: string; name: string | null; key_prefix: string | null }>`
      SELECT d.group_value, sum(d.spend) AS spend, sum(d.requests) AS requests, k.name, k.key_prefix FROM spend_daily d
      LEFT JOIN api_keys k ON k.id::text = d.group_value
      WHERE d.group_kind = 'key' AND d.day >= ${sinceDay}::date GROUP BY d.group_value, k.name, k.key_prefix ORDER BY sum(d.spend) DESC, d.group_value LIMIT 20`
    const byTeam = yield* sql<{ group_value: string; spend: number; requests: string; name: string | null }>`
      SELECT d.group_value, sum(d.spend) AS spend, sum(d.requests) AS requests, t.name FROM spend_daily d
      LEFT JOIN teams t ON t.id::text = d.group_value
      WHERE d.group_kind = 'team' AND d.day >= ${sinceDay}::date GROUP BY d.group_value, t.name ORDER BY sum(d.spend) DESC, d.group_value LIMIT 20`
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
        sum(cached_input_tokens)::float8 / nullif(sum(input_tokens), 0) AS cached_token_share,
        coalesce(sum(cost) FILTER (WHERE key_id IS NULL), 0) AS keyless_spend,
        count(*) FILTER (WHERE key_id IS NULL) AS keyless_requests,
        min(start_time) AS first_request_at
      FROM spend_logs WHERE start_time >= ${since}`
    const n = (v: unknown) => (v === null || v === undefined ? null : Number(v))
    return {
      days,
      spend_by_day: byDay.map((r) => ({ day: typeof r.day === "string" ? r.day : r.day.toISOString().slice(0, 10), model: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      spend_by_model: byModel.map((r) => ({ model: r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      /** The 20 keys that spent most, by name (else display prefix, else id), then the traffic without a key (auth off, the master key). */
      spend_by_key: [
        ...byKey.map((r) => ({ key: r.group_value, name: r.name ?? r.key_prefix ?? r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
        ...(Number(latency?.keyless_requests ?? 0) > 0 ? [{ key: null, name: "(no key)", spend: Number(latency?.keyless_spend ?? 0), requests: Number(latency?.keyless_requests) }] : [])
      ],
      spend_by_team: byTeam.map((r) => ({ team: r.group_value, name: r.name ?? r.group_value, spend: Number(r.spend), requests: Number(r.requests) })),
      /** The oldest request in the range: the range the data really covers may be shorter than `days`. */
      first_request_at: latency?.first_request_at == null ? null : new Date(latency.first_request_at as string).toISOString(),
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
