import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Teams and API keys. Keys are stored only as their SHA-256 (`key_hash`, unique: the lookup on every
 * request) plus a short display prefix. Limit and budget columns are the same on both tables because a
 * request must satisfy its key's and its team's. Spend tracking (budgets) comes with the ledger tables of a
 * later migration; nothing here anticipates their shape beyond `budget_duration`.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE teams (
      id uuid PRIMARY KEY,
      name text,
      models jsonb NOT NULL DEFAULT '[]',
      rpm_limit integer CHECK (rpm_limit >= 0),
      tpm_limit integer CHECK (tpm_limit >= 0),
      max_parallel_requests integer CHECK (max_parallel_requests >= 0),
      max_budget double precision CHECK (max_budget >= 0),
      soft_budget double precision CHECK (soft_budget >= 0),
      budget_duration text CHECK (budget_duration IN ('daily', 'weekly', 'monthly')),
      max_prompt_tokens integer CHECK (max_prompt_tokens >= 0),
      max_messages integer CHECK (max_messages >= 0),
      metadata jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz
    )`
  yield* sql`
    CREATE TABLE api_keys (
      id uuid PRIMARY KEY,
      key_hash text NOT NULL UNIQUE,
      key_prefix text NOT NULL,
      name text,
      team_id uuid REFERENCES teams (id),
      models jsonb NOT NULL DEFAULT '[]',
      rpm_limit integer CHECK (rpm_limit >= 0),
      tpm_limit integer CHECK (tpm_limit >= 0),
      max_parallel_requests integer CHECK (max_parallel_requests >= 0),
      max_budget double precision CHECK (max_budget >= 0),
      soft_budget double precision CHECK (soft_budget >= 0),
      budget_duration text CHECK (budget_duration IN ('daily', 'weekly', 'monthly')),
      max_prompt_tokens integer CHECK (max_prompt_tokens >= 0),
      max_messages integer CHECK (max_messages >= 0),
      metadata jsonb NOT NULL DEFAULT '{}',
      expires_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX api_keys_team_id_idx ON api_keys (team_id)`
})
