import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"

/**
 * Rows per INSERT. A batch goes to the database as one JSON parameter, so this bounds the size of that
 * parameter (about 0.5 KB a row), not a bind-parameter count.
 */
export const MAX_ROWS_PER_INSERT = 1000

const COLUMNS = "request_id, client_request_id, key_id, key_prefix, team_id, operation, model_group, deployment, provider, response_model, status, error_type, input_tokens, cached_input_tokens, output_tokens, cost, start_time, first_token_time, end_time, cache_hit, tags, end_user, session_id, saved_cost"
/** The same, as read from a batch: a row journaled before saved_cost existed has none (0). */
const SELECTED = COLUMNS.replace("saved_cost", "coalesce(saved_cost, 0)")

/**
 * The statement that inserts a batch of ledger rows and folds them into the daily aggregates in ONE
 * statement: the CTE's RETURNING yields only rows that were new, so a batch replayed from the journal
 * after a crash (partly stored already) neither duplicates a row nor counts its spend twice. `rows` is
 * the row source over the batch, parameter $1. (Exported for bench/ledger-insert.ts, which compares row
 * sources.)
 */
export const spendInsertStatement = (rows: string) => `
  WITH inserted AS (
    INSERT INTO spend_logs (${COLUMNS})
    SELECT ${SELECTED} FROM ${rows}
    ON CONFLICT (request_id) DO NOTHING
    RETURNING key_id, team_id, model_group, end_user, input_tokens, cached_input_tokens, output_tokens, cost, tags,
              (start_time AT TIME ZONE 'UTC')::date AS day
  ), grouped AS (
    SELECT 'key' AS group_kind, key_id AS group_value, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted WHERE key_id IS NOT NULL
    UNION ALL
    SELECT 'team', team_id, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted WHERE team_id IS NOT NULL
    UNION ALL
    SELECT 'model', model_group, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted
    UNION ALL
    SELECT 'user', end_user, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted WHERE end_user IS NOT NULL
    UNION ALL
    SELECT 'tag', tag, day, input_tokens, cached_input_tokens, output_tokens, cost
    -- Only an array of tags is folded: anything else in the column must not fail the whole batch.
    FROM inserted CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(inserted.tags) = 'array' THEN inserted.tags ELSE '[]' END) AS t(tag)
  )
  INSERT INTO spend_daily (group_kind, group_value, day, requests, input_tokens, cached_input_tokens, output_tokens, spend)
  SELECT group_kind, group_value, day, count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), sum(cost)
  FROM grouped GROUP BY group_kind, group_value, day
  ON CONFLICT (group_kind, group_value, day) DO UPDATE SET
    requests = spend_daily.requests + excluded.requests,
    input_tokens = spend_daily.input_tokens + excluded.input_tokens,
    cached_input_tokens = spend_daily.cached_input_tokens + excluded.cached_input_tokens,
    output_tokens = spend_daily.output_tokens + excluded.output_tokens,
    spend = spend_daily.spend + excluded.spend`

/**
 * The rows travel as one JSON array parameter: the statement's text is the same for every batch, so
 * Postgres and the client prepare it once, and encoding a batch is one string join instead of twenty
 * parameters a row (a 1,000-row batch used to block the event loop for tens of milliseconds). json, not
 * jsonb: parsing the parameter into jsonb costs more than jsonb_populate_recordset saves (a 500-row batch
 * took ~15% longer, bench/ledger-insert.ts).
 */
const INSERT_SPEND_ROWS = spendInsertStatement("json_populate_recordset(NULL::spend_logs, $1::json)")

/**
 * Inserts ledger rows, encoded as the journal keeps them (encodeSpendRow: JSON lines), so a batch is
 * their concatenation.
 */
export const insertEncodedSpendRows = (encoded: ReadonlyArray<string>): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (let i = 0; i < encoded.length; i += MAX_ROWS_PER_INSERT) {
      yield* sql.unsafe(INSERT_SPEND_ROWS, [`[${encoded.slice(i, i + MAX_ROWS_PER_INSERT).join(",")}]`])
    }
  })
