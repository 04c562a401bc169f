import { Context } from "effect"
import { unguarded, type DependencyGuard } from "../effect/dependency-guard.ts"

/**
 * Timeouts and fail-fast for the database (see makeDependencyGuard): what the request path (key lookups,
 * budget reads, /spend) and the ledger's writer run their queries through, so a hung or stopped
 * Postgres costs a request at most the timeout, once, and then nothing until it is back. A reference:
 * code run without `databaseLayer` (tests) gets a guard that guards nothing.
 */
export const DatabaseGuard = Context.Reference<DependencyGuard>("inferline/db/DatabaseGuard", { defaultValue: () => unguarded("the database") })

/** SQLSTATEs of a server that is not there for us: connection exceptions (08), shut down or starting (57P01-57P03). */
const OUTAGE_SQLSTATE = /^(08|57P0[1-3])/

/** Node's codes for a connection that cannot be made or was cut. */
const OUTAGE_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"])

/**
 * A failure that says the database is unreachable rather than that the statement was wrong: a SqlError
 * whose reason is a ConnectionError, or anything along the cause chain with an outage SQLSTATE or
 * connection errno.
 */
export const isDatabaseOutage = (error: unknown): boolean => {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const o = e as { readonly _tag?: unknown; readonly reason?: { readonly _tag?: unknown }; readonly code?: unknown; readonly cause?: unknown }
    if (o._tag === "SqlError" && o.reason?._tag === "ConnectionError") return true
    if (o._tag === "ConnectionError" || o._tag === "DependencyUnavailable") return true
    if (typeof o.code === "string" && (OUTAGE_SQLSTATE.test(o.code) || OUTAGE_ERRNO.has(o.code))) return true
    e = o.reason !== undefined && o._tag === "SqlError" ? o.reason : o.cause
  }
  return false
}
