import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The spend ledger: one row per request (`spend_logs`, keyed by the request id so a replayed journal
 * cannot count a request twice), daily aggregates per key, team and model (`spend_daily`, kept up to date
 * by the same statement that inserts a batch), and the budget alerts already sent (`budget_alerts`, so
 * each threshold fires once per period even across restarts). Key and team ids are text: the ledger also
 * records requests made with the master key or with keys off, which have no row in api_keys.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE spend_logs (
      request_id text PRIMARY KEY,
      key_id text,
      key_prefix text,
      team_id text,
      operation text NOT NULL,
      model_group text NOT NULL,
      deployment text NOT NULL,
      provider text NOT NULL,
      response_model text,
      status text NOT NULL CHECK (status IN ('ok', 'error', 'aborted')),
      error_type text,
      input_tokens integer NOT NULL DEFAULT 0,
      cached_input_tokens integer NOT NULL DEFAULT 0,
      output_tokens integer NOT NULL DEFAULT 0,
      cost double precision NOT NULL DEFAULT 0,
      start_time timestamptz NOT NULL,
      first_token_time timestamptz,
      end_time timestamptz NOT NULL,
      cache_hit boolean NOT NULL DEFAULT false,
      tags jsonb NOT NULL DEFAULT '[]'
    )`
  // The /spend/logs filters (newest first) and the budget sums (spend of a key or team since a date).
  yield* sql`CREATE INDEX spend_logs_start_time_idx ON spend_logs (start_time DESC)`
  yield* sql`CREATE INDEX spend_logs_key_time_idx ON spend_logs (key_id, start_time DESC)`
  yield* sql`CREATE INDEX spend_logs_team_time_idx ON spend_logs (team_id, start_time DESC)`
  yield* sql`CREATE INDEX spend_logs_model_time_idx ON spend_logs (model_group, start_time DESC)`
  yield* sql`
    CREATE TABLE spend_daily (
      group_kind text NOT NULL CHECK (group_kind IN ('key', 'team', 'model')),
      group_value text NOT NULL,
      day date NOT NULL,
      requests bigint NOT NULL DEFAULT 0,
      input_tokens bigint NOT NULL DEFAULT 0,
      cached_input_tokens bigint NOT NULL DEFAULT 0,
      output_tokens bigint NOT NULL DEFAULT 0,
      spend double precision NOT NULL DEFAULT 0,
      PRIMARY KEY (group_kind, group_value, day)
    )`
  yield* sql`CREATE INDEX spend_daily_day_idx ON spend_daily (day)`
  yield* sql`
    CREATE TABLE budget_alerts (
      subject_kind text NOT NULL CHECK (subject_kind IN ('key', 'team')),
      subject_id text NOT NULL,
      period_start timestamptz NOT NULL,
      threshold text NOT NULL,
      spent double precision NOT NULL,
      budget double precision NOT NULL,
      fired_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (subject_kind, subject_id, period_start, threshold)
    )`
})
