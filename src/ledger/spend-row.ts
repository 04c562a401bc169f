/**
 * One request in the spend ledger, as stored in `spend_logs` and returned by GET /spend/logs. Field names
 * are the columns' (snake_case, like the gateway's records), so rows go to JSON and SQL as they are.
 */
export interface SpendRow {
  /** The server's id for the request (never the client's: see newRequestId). */
  readonly request_id: string
  /** The client's x-request-id, if it sent a sane one: a correlation id many requests may share. */
  readonly client_request_id: string | null
  readonly key_id: string | null
  /** The key's display prefix (`sk-inf-Ab3xY`): recognisable, never enough to use the key. */
  readonly key_prefix: string | null
  readonly team_id: string | null
  readonly operation: "chat" | "text_completion" | "embeddings"
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
  /** Answered from the gateway's response cache (prompt tokens from the engine's prefix cache: cached_input_tokens). */
  readonly cache_hit: boolean
  readonly tags: ReadonlyArray<string>
  /** Who the request was for (OpenAI's `user`, x-inferline-user) and the session (x-inferline-session). */
  readonly end_user: string | null
  readonly session_id: string | null
  /** A response-cache hit: what the answer cost when it was made (the money the cache saved); else 0. */
  readonly saved_cost: number
}

/** ok: the response completed; error: it failed; aborted: the client went away first. */
export type SpendStatus = "ok" | "error" | "aborted"

/**
 * A row as a journal line (dates as ISO strings), which is also how it travels to the database. Every
 * request makes one, so the dates are formatted first: an object with a Date in it takes JSON.stringify
 * off its fast path (Date#toJSON): 9 us a row instead of 2.4-3 (bench/spend-row-encode.ts).
 */
export const encodeSpendRow = (row: SpendRow): string => withoutNul(JSON.stringify({
    request_id: row.request_id,
    client_request_id: row.client_request_id,
    key_id: row.key_id,
    key_prefix: row.key_prefix,
    team_id: row.team_id,
    operation: row.operation,
    model_group: row.model_group,
    deployment: row.deployment,
    provider: row.provider,
    response_model: row.response_model,
    status: row.status,
    error_type: row.error_type,
    input_tokens: row.input_tokens,
    cached_input_tokens: row.cached_input_tokens,
    output_tokens: row.output_tokens,
    cost: row.cost,
    start_time: isoTime(row.start_time),
    first_token_time: row.first_token_time === null ? null : isoTime(row.first_token_time),
    end_time: isoTime(row.end_time),
    cache_hit: row.cache_hit,
    tags: row.tags,
    end_user: row.end_user,
    session_id: row.session_id,
    saved_cost: row.saved_cost
  }))

/**
 * Postgres text cannot hold U+0000: one in any field (an upstream's model name, say) would fail the
 * row's whole batch, and the batch is retried until it is stored. JSON.stringify writes it as \u0000.
 */
const withoutNul = (line: string): string => (line.includes("\\u0000") ? line.replaceAll("\\u0000", "\\ufffd") : line)

/**
 * Date#toISOString, with the part up to the second reused while the second lasts (toISOString is a
 * runtime call of ~1 us; a request's dates fall in the same second or the next).
 */
const isoTime = (date: Date): string => {
  const ms = date.getTime()
  const second = Math.floor(ms / 1000)
  if (second !== cachedSecond) {
    cachedSecond = second
    cachedPrefix = date.toISOString().slice(0, -4) // "YYYY-MM-DDTHH:MM:SS."
  }
  const millis = ms - second * 1000
  return cachedPrefix + (millis < 10 ? "00" : millis < 100 ? "0" : "") + millis + "Z"
}
let cachedSecond = NaN
let cachedPrefix = ""
