import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { MAX_END_USER_ID_LENGTH } from "../gateway/end-users.ts"

/**
 * Who a request is for, beyond the API key: the end user (OpenAI's `user` field, Anthropic's
 * `metadata.user_id`, or the `x-inferline-user` header an application server sets for every call it makes), and the session
 * (`x-inferline-session` header, or `metadata.session_id` as LiteLLM's Langfuse integration sends it).
 * They go on the ledger row and the span (user.id, session.id, and Langfuse's names), spend reports
 * group by them, and an end user with a record may have a budget or be blocked.
 */
export interface EndUserContext {
  readonly endUser: string | null
  readonly sessionId: string | null
}

const NONE: EndUserContext = { endUser: null, sessionId: null }

/** An id the ledger can store and a dashboard show: 1-256 characters, no control characters. */
const SANE_ID = new RegExp(`^[^\\u0000-\\u001f\\u007f]{1,${MAX_END_USER_ID_LENGTH}}$`)

const checked = (value: unknown, param: string): string | null | ApiError => {
  if (value === undefined || value === null || value === "") return null
  if (typeof value !== "string" || !SANE_ID.test(value)) {
    return invalidRequest(`\`${param}\` must be a string of 1-${MAX_END_USER_ID_LENGTH} characters without control characters.`, param)
  }
  return value
}

export const endUserOf = (
  body: Readonly<Record<string, unknown>>,
  headers: Readonly<Record<string, string | undefined>>
): EndUserContext | ApiError => {
  const header = headers["x-inferline-user"]
  const sessionHeader = headers["x-inferline-session"]
  const metadata = body.metadata
  const metadataSession = metadata !== null && typeof metadata === "object" ? (metadata as { session_id?: unknown }).session_id : undefined
  const metadataUser = metadata !== null && typeof metadata === "object" ? (metadata as { user_id?: unknown }).user_id : undefined
  if (header === undefined && body.user === undefined && metadataUser === undefined && sessionHeader === undefined && metadataSession === undefined) return NONE
  // The header wins: an application server sets it for every call, whatever its client put in `user`.
  const endUser = checked(header ?? body.user ?? metadataUser, header !== undefined ? "x-inferline-user" : body.user !== undefined ? "user" : "metadata.user_id")
  if (typeof endUser === "object" && endUser !== null) return endUser
  const sessionId = checked(sessionHeader ?? metadataSession, sessionHeader !== undefined ? "x-inferline-session" : "metadata.session_id")
  if (typeof sessionId === "object" && sessionId !== null) return sessionId
  return { endUser, sessionId }
}
