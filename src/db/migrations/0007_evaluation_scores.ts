import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Evaluation scores (src/evaluation): one row per evaluator and request, keyed by `<request id>:<evaluator>`
 * so a journal replayed after a crash stores each score once. Indexed for the dashboard's score over time
 * per model group and for a request's scores.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE evaluation_scores (
      id text PRIMARY KEY,
      request_id text NOT NULL,
      evaluator text NOT NULL,
      model_group text NOT NULL,
      deployment text,
      key_id text,
      team_id text,
      end_user text,
      value double precision NOT NULL CHECK (value >= 0 AND value <= 1),
      comment text NOT NULL DEFAULT '',
      trace_id text,
      span_id text,
      created_at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX evaluation_scores_group_time_idx ON evaluation_scores (model_group, evaluator, created_at)`
  yield* sql`CREATE INDEX evaluation_scores_request_idx ON evaluation_scores (request_id)`
})
