import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The ledger's key is the server's own request id; the client's `x-request-id` moves to a column of its
 * own, `client_request_id` (a correlation id: many rows may share it), indexed for GET
 * /spend/logs?client_request_id=. Rows written before have none (NULL). The index is partial: most
 * clients send no id, and those rows need no entry.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE spend_logs ADD COLUMN client_request_id text`
  yield* sql`CREATE INDEX spend_logs_client_request_id_idx ON spend_logs (client_request_id, start_time DESC) WHERE client_request_id IS NOT NULL`
})
