import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Daily totals per request tag: `spend_daily` takes the group kind `tag` (one row per tag and day; a
 * request with several tags counts toward each), filled by the ledger's insert like the others.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE spend_daily DROP CONSTRAINT spend_daily_group_kind_check`
  yield* sql`ALTER TABLE spend_daily ADD CONSTRAINT spend_daily_group_kind_check CHECK (group_kind IN ('key', 'team', 'model', 'tag'))`
})
