import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Stored responses of /v1/responses (`store`, the default): the response object as answered, the
 * request's input items (GET /v1/responses/{id}/input_items) and the conversation so far as chat messages
 * (what `previous_response_id` continues). `owner` is the API key that made it (`master`, or `auth-off`
 * without keys): one key never reads another's.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE stored_responses (
      id text PRIMARY KEY,
      owner text NOT NULL,
      model text NOT NULL,
      created_at timestamptz NOT NULL,
      response jsonb NOT NULL,
      input_items jsonb NOT NULL,
      conversation jsonb NOT NULL
    )`
  yield* sql`CREATE INDEX stored_responses_owner_idx ON stored_responses (owner, created_at)`
})
