/**
 * One request in the spend ledger, as stored in `spend_logs` and returned by GET /spend/logs. Field names
 * are the columns' (snake_case, like the gateway's records), so rows go to JSON and SQL as they are.
 */
export interface SpendRow {
  readonly request_id: string
  readonly key_id: string | null
  /** The key's display prefix (`sk-inf-Ab3xY`): recognisable, never enough to use the key. */
  readonly key_prefix: string | null
  readonly team_id: string | null
  readonly operation: "chat" | "text_completion"
  readonly model_group: string
  readonly deployment: string
  readonly provider: string
  readonly response_model: string | null
  readonly status: SpendStatus
  readonly error_type: string | null
  /** Prompt tokens, cached ones included (as OpenAI and the GenAI conventions count them). */
  readonly input_tokens: number
  readonly cached_input_tokens: number
  readonly output_tokens: number
  /** In the price table's currency (USD by convention). */
  readonly cost: number
  readonly start_time: Date
  readonly first_token_time: Date | null
  readonly end_time: Date
  /** Some prompt tokens came from the prefix cache. */
  readonly cache_hit: boolean
  readonly tags: ReadonlyArray<string>
}

/** ok: the response completed; error: it failed; aborted: the client went away first. */
export type SpendStatus = "ok" | "error" | "aborted"

/** A row as a journal line (dates as ISO strings), which is also how it travels to the database. */
export const encodeSpendRow = (row: SpendRow): string => JSON.stringify(row)
