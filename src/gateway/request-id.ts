import { Context } from "effect"
import { randomUUID } from "node:crypto"

/** A client's x-request-id is kept only if it is this tame, so it is safe in logs, headers and traces. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * A new request id: `req_` and 32 hex digits, the first 12 the time in milliseconds (UUIDv7's layout),
 * the rest random. Every request gets one from the server, whatever the client sent: it is the ledger's
 * primary key (spend_logs.request_id), and a key a client could choose would let requests that reuse it
 * go unrecorded (ON CONFLICT DO NOTHING) and escape their budgets. Ids made later sort later, so that key
 * grows at its right edge instead of touching a random page of the index per row: a 500-row ledger
 * batch took a median 7.8-8.2 ms with random ids and 7.3-7.5 with these, on a table growing to 200k rows
 * (bench/ledger-insert.ts, three runs), and the gap widens once the index outgrows memory.
 */
export const newRequestId = (): string => `req_${Date.now().toString(16).padStart(12, "0")}${randomUUID().replaceAll("-", "").slice(12)}`

/**
 * The client's `x-request-id` when it is sane, else undefined: a correlation id (echoed back, stored as
 * the ledger row's client_request_id, indexed), never a key. Many requests may carry the same one.
 */
export const clientRequestIdOf = (incoming: string | undefined): string | undefined =>
  incoming !== undefined && SANE_REQUEST_ID.test(incoming) ? incoming : undefined

/** The current request's client-chosen id (x-request-id as sent, when sane), for its ledger row and span. */
export const ClientRequestId = Context.Reference<string | undefined>("inferline/ClientRequestId", { defaultValue: () => undefined })
