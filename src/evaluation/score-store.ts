import { Effect } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { Score } from "./score.ts"

/** A score as the journal keeps it and the table takes it (snake_case columns, JSON). */
export const encodeScore = (s: Score): string => {
  const json = JSON.stringify({
    id: s.id,
    request_id: s.requestId,
    evaluator: s.evaluator,
    model_group: s.modelGroup,
    deployment: s.deployment,
    key_id: s.keyId,
    team_id: s.teamId,
    end_user: s.endUser,
    value: s.value,
    comment: s.comment,
    trace_id: s.traceId,
    span_id: s.spanId,
    created_at: s.createdAt.toISOString()
  })
  // Postgres text cannot hold NUL (a request id or end user could carry one); most lines have none.
  return json.includes("\\u0000") ? json.replace(/\\u0000/g, "") : json
}

const COLUMNS = "id, request_id, evaluator, model_group, deployment, key_id, team_id, end_user, value, comment, trace_id, span_id, created_at"

/** Inserts encoded scores (one JSON array parameter); a score stored already is skipped. */
export const insertEncodedScores = (encoded: ReadonlyArray<string>): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (let i = 0; i < encoded.length; i += 1000) {
      yield* sql.unsafe(
        `INSERT INTO evaluation_scores (${COLUMNS}) SELECT ${COLUMNS} FROM json_populate_recordset(NULL::evaluation_scores, $1::json) ON CONFLICT (id) DO NOTHING`,
        [`[${encoded.slice(i, i + 1000).join(",")}]`]
      )
    }
  })

/** Mean score per model group, evaluator and hour since `since` (the dashboard's score over time). */
export const scoresOverTime = (since: Date) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ model_group: string; evaluator: string; hour: Date; mean: number; scores: number }>`
      SELECT model_group, evaluator, date_trunc('hour', created_at) AS hour, avg(value)::float8 AS mean, count(*)::int AS scores
      FROM evaluation_scores WHERE created_at >= ${since}
      GROUP BY model_group, evaluator, hour ORDER BY hour, model_group, evaluator`)

/** One request's scores. */
export const scoresOfRequest = (requestId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ evaluator: string; value: number; comment: string; created_at: Date }>`
      SELECT evaluator, value, comment, created_at FROM evaluation_scores WHERE request_id = ${requestId} ORDER BY evaluator`)
