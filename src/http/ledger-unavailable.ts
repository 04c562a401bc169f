import { Cause } from "effect"
import { ApiError } from "../api/api-error.ts"
import { JournalWriteError } from "../ledger/ledger.ts"

/** Seconds a client refused for an unwritable ledger is told to wait. */
const RETRY_AFTER_SECONDS = 5

/**
 * The answer to a request whose ledger row could not be journaled (a full disk under
 * the journal): 503 `ledger_unavailable`, not a 500, since nothing is wrong with the request and a retry
 * may succeed once the disk has room. The row's failure is a defect (JournalWriteError) because the
 * request path ends its observation with an effect that cannot fail; this finds it. Undefined for any
 * other cause. The server logs the journal failure itself (once per interval), so the response needs no
 * log line.
 */
export const ledgerUnavailableIn = (cause: Cause.Cause<unknown>): ApiError | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isDieReason(reason) && reason.defect instanceof JournalWriteError) {
      return new ApiError({
        status: 503,
        type: "server_error",
        message: `The server cannot record requests right now (${reason.defect.code} writing its spend ledger's journal), so it did not answer this one; retry later.`,
        param: null,
        code: "ledger_unavailable",
        headers: { "retry-after": String(RETRY_AFTER_SECONDS) }
      })
    }
  }
  return undefined
}
