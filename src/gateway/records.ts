/**
 * Keys and teams as the gateway sees them. Field names are the API's (snake_case, LiteLLM's names), so
 * records go to JSON as they are and nobody maps between two spellings.
 */

export const BUDGET_DURATIONS = ["daily", "weekly", "monthly"] as const
export type BudgetDuration = (typeof BUDGET_DURATIONS)[number]

/**
 * Limits and budgets a key or a team carries; `null` means "no limit". A request must satisfy those of
 * its key and of its key's team. Budgets are stored here and enforced by the spend ledger (a later issue).
 */
export interface Limits {
  /** Model names this key or team may use; empty: all. */
  readonly models: ReadonlyArray<string>
  /** Requests per sliding 60 s window. */
  readonly rpm_limit: number | null
  /** Prompt + completion tokens per sliding 60 s window. */
  readonly tpm_limit: number | null
  readonly max_parallel_requests: number | null
  readonly max_budget: number | null
  /** Spend at which to alert; never blocks. */
  readonly soft_budget: number | null
  readonly budget_duration: BudgetDuration | null
  /** Largest prompt (in tokens) one request may send. */
  readonly max_prompt_tokens: number | null
  /** Most chat messages one request may send. */
  readonly max_messages: number | null
  readonly metadata: Readonly<Record<string, unknown>>
}

export const LIMIT_FIELDS = [
  "models",
  "rpm_limit",
  "tpm_limit",
  "max_parallel_requests",
  "max_budget",
  "soft_budget",
  "budget_duration",
  "max_prompt_tokens",
  "max_messages",
  "metadata"
] as const satisfies ReadonlyArray<keyof Limits>

export interface TeamRecord extends Limits {
  readonly id: string
  readonly name: string | null
  readonly created_at: Date
  readonly updated_at: Date
  /** Set by DELETE /admin/teams/{id}: the team and all its keys stop working. */
  readonly deleted_at: Date | null
}

export interface KeyRecord extends Limits {
  readonly id: string
  /** The first characters of the key (`sk-inf-` + 5), to recognise it in listings; the rest is never stored. */
  readonly key_prefix: string
  readonly name: string | null
  readonly team_id: string | null
  readonly expires_at: Date | null
  /** Set by DELETE /admin/keys/{id}. */
  readonly revoked_at: Date | null
  readonly created_at: Date
  readonly updated_at: Date
}

/** Fields a caller sets when creating or patching a team; absent: default (create) or unchanged (patch). */
export type TeamFields = Partial<Omit<TeamRecord, "id" | "created_at" | "updated_at" | "deleted_at">>

export type KeyFields = Partial<Omit<KeyRecord, "id" | "key_prefix" | "created_at" | "updated_at" | "revoked_at">>

export const noLimits: Limits = {
  models: [],
  rpm_limit: null,
  tpm_limit: null,
  max_parallel_requests: null,
  max_budget: null,
  soft_budget: null,
  budget_duration: null,
  max_prompt_tokens: null,
  max_messages: null,
  metadata: {}
}
