import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"
import type { SpendRow } from "./spend-row.ts"

/** Rows per INSERT: 20 columns each stays far below Postgres' 65,535 bind parameters. */
export const MAX_ROWS_PER_INSERT = 1000

const toColumns = (r: SpendRow): Record<string, unknown> => ({ ...r, tags: JSON.stringify(r.tags) })

/**
 * Inserts a batch of ledger rows and folds them into the daily aggregates in ONE statement: the CTE's
 * RETURNING yields only rows that were new, so a batch replayed from the journal after a crash (partly
 * stored already) neither duplicates a row nor counts its spend twice.
 */
export const insertSpendRows = (rows: ReadonlyArray<SpendRow>): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (let i = 0; i < rows.length; i += MAX_ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + MAX_ROWS_PER_INSERT).map(toColumns) as [Record<string, unknown>, ...Array<Record<string, unknown>>]
      yield* sql`
        WITH inserted AS (
          INSERT INTO spend_logs ${sql.insert(chunk)}
          ON CONFLICT (request_id) DO NOTHING
          RETURNING key_id, team_id, model_group, input_tokens, cached_input_tokens, output_tokens, cost,
                    (start_time AT TIME ZONE 'UTC')::date AS day
        ), grouped AS (
          SELECT 'key' AS group_kind, key_id AS group_value, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted WHERE key_id IS NOT NULL
          UNION ALL
          SELECT 'team', team_id, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted WHERE team_id IS NOT NULL
          UNION ALL
          SELECT 'model', model_group, day, input_tokens, cached_input_tokens, output_tokens, cost FROM inserted
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
    }
  })
