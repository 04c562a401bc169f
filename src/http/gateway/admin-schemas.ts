import { Schema } from "effect"
import { BUDGET_DURATIONS } from "../../gateway/records.ts"

/**
 * Bodies of the admin API. Every field is optional: absent means "default" on create and "unchanged" on
 * PATCH; `null` clears a limit (no limit). Unknown fields are refused (decode with onExcessProperty
 * "error"), because a misspelt limit such as `rpm` silently ignored would leave a key unlimited.
 */

const optional = <S extends Schema.Top>(schema: S, description: string) =>
  Schema.optionalKey(Schema.NullOr(schema).annotate({ description }))

/** Limits are stored in Postgres `integer` columns: a larger value must be a 400 naming it, not a 500. */
const MAX_COUNT = 2_147_483_647
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(MAX_COUNT))
const Amount = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

/** Postgres text and jsonb cannot hold U+0000: a field with one must be a 400, not a failed INSERT (500). */
const noNul = Schema.makeFilter((s: string) => (s.includes("\u0000") ? "must not contain a NUL character" : undefined))
const Text = (maxLength: number) => Schema.String.check(Schema.isMaxLength(maxLength), noNul)
const JsonObject = Schema.Record(Schema.String, Schema.Unknown).check(
  Schema.makeFilter((o: object) => (JSON.stringify(o).includes("\\u0000") ? "must not contain a NUL character" : undefined))
)

const limitFields = {
  models: optional(Schema.Array(Text(256)).check(Schema.isMaxLength(1000)), "Model names allowed; empty or null: all."),
  rpm_limit: optional(Count, "Requests per sliding 60 s window."),
  tpm_limit: optional(Count, "Prompt + completion tokens per sliding 60 s window."),
  max_parallel_requests: optional(Count, "Requests in flight at once."),
  max_budget: optional(Amount, "Spend limit per budget_duration (enforced by the spend ledger)."),
  soft_budget: optional(Amount, "Spend at which to alert; never blocks."),
  budget_duration: optional(Schema.Literals(BUDGET_DURATIONS), "daily, weekly or monthly."),
  max_prompt_tokens: optional(Count, "Largest prompt, in tokens, of one request."),
  max_messages: optional(Count, "Most chat messages in one request."),
  metadata: optional(JsonObject, "Free-form JSON object.")
}

const name = optional(Text(256), "A label for people.")

export const TeamBody = Schema.Struct({ name, ...limitFields })
export type TeamBody = typeof TeamBody.Type

export const KeyBody = Schema.Struct({
  name,
  team_id: optional(Schema.String.check(Schema.isUUID()), "The team whose limits also apply."),
  expires_at: optional(Text(64), "ISO 8601 time after which the key is refused."),
  ...limitFields
})
export type KeyBody = typeof KeyBody.Type
