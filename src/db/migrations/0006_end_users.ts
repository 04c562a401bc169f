import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * End users (the people an application calls on behalf of, named by the OpenAI `user` field or the
 * x-inferline-user header): their records (`end_users`: budget, blocked), their spend per budget
 * period (`end_user_spend`, added to by every instance so a budget holds across replicas), and on the
 * ledger the end user and session of each request, plus what a response-cache hit would have cost
 * (`saved_cost`: the money the cache saved). Daily aggregates get the group kind `user`; budget
 * alerts the subject kind `end_user`.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE end_users (
      id text PRIMARY KEY,
      alias text,
      max_budget double precision,
      soft_budget double precision,
      budget_duration text,
      blocked boolean NOT NULL DEFAULT false,
      metadata jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE end_user_spend (
      end_user text NOT NULL,
      period_start timestamptz NOT NULL,
      spent double precision NOT NULL DEFAULT 0,
      PRIMARY KEY (end_user, period_start)
    )`
  yield* sql`ALTER TABLE spend_logs ADD COLUMN end_user text`
  yield* sql`ALTER TABLE spend_logs ADD COLUMN session_id text`
  yield* sql`ALTER TABLE spend_logs ADD COLUMN saved_cost double precision NOT NULL DEFAULT 0`
  yield* sql`CREATE INDEX spend_logs_end_user_time_idx ON spend_logs (end_user, start_time DESC) WHERE end_user IS NOT NULL`
  yield* sql`ALTER TABLE spend_daily DROP CONSTRAINT spend_daily_group_kind_check`
  yield* sql`ALTER TABLE spend_daily ADD CONSTRAINT spend_daily_group_kind_check CHECK (group_kind IN ('key', 'team', 'model', 'tag', 'user'))`
  yield* sql`ALTER TABLE budget_alerts DROP CONSTRAINT budget_alerts_subject_kind_check`
  yield* sql`ALTER TABLE budget_alerts ADD CONSTRAINT budget_alerts_subject_kind_check CHECK (subject_kind IN ('key', 'team', 'end_user'))`
})
