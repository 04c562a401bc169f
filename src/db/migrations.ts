import { PgMigrator } from "@effect/sql-pg"
import teamsAndApiKeys from "./migrations/0001_teams_and_api_keys.ts"
import spendLedger from "./migrations/0002_spend_ledger.ts"
import spendByTag from "./migrations/0003_spend_by_tag.ts"
import clientRequestId from "./migrations/0004_client_request_id.ts"
import semanticCacheEntries from "./migrations/0005_semantic_cache_entries.ts"
import endUsers from "./migrations/0006_end_users.ts"
import evaluationScores from "./migrations/0007_evaluation_scores.ts"
import storedResponses from "./migrations/0008_stored_responses.ts"

/**
 * Every migration, in order: `<id>_<name>` → effect. PgMigrator runs those whose id is above the highest
 * recorded in `effect_sql_migrations`, each in a transaction, at startup. Append new ones; never edit one that has shipped.
 */
export const migrations = PgMigrator.fromRecord({
  "0001_teams_and_api_keys": teamsAndApiKeys,
  "0002_spend_ledger": spendLedger,
  "0003_spend_by_tag": spendByTag,
  "0004_client_request_id": clientRequestId,
  "0005_semantic_cache_entries": semanticCacheEntries,
  "0006_end_users": endUsers,
  "0007_evaluation_scores": evaluationScores,
  "0008_stored_responses": storedResponses
})
