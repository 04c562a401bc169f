import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { DatabaseGuard, isDatabaseOutage } from "../db/database-guard.ts"
import { SPEND_GROUPS, spendLogs, spendReport, type SpendGroup } from "../ledger/spend-queries.ts"
import { scoresOfRequest } from "../evaluation/score-store.ts"
import { requireMaster } from "./gateway/authenticate-request.ts"
import { ApiError, invalidRequest } from "../api/api-error.ts"
import { errorResponse } from "./errors.ts"
import { orGatewayErrorResponse } from "./gateway/gateway-error-response.ts"

const queryOf = Effect.map(HttpServerRequest.HttpServerRequest, (r) => new URL(r.url, "http://x").searchParams)

const optionalDate = (q: URLSearchParams, name: string): Effect.Effect<Date | undefined, ApiError> => {
  const raw = q.get(name)
  if (raw === null || raw === "") return Effect.succeed(undefined)
  const date = new Date(/^\d+$/.test(raw) ? Number(raw) * 1000 : raw)
  return Number.isNaN(date.getTime())
    ? Effect.fail(invalidRequest(`Invalid value for '${name}': expected an ISO 8601 time or Unix seconds.`, name))
    : Effect.succeed(date)
}

/**
 * A text filter from the query string. Postgres text cannot hold U+0000, and a filter with one would
 * fail the query (a 500): it is the request's fault, a 400.
 */
const optionalText = (q: URLSearchParams, name: string): Effect.Effect<string | undefined, ApiError> => {
  const raw = q.get(name)
  if (raw === null) return Effect.succeed(undefined)
  return raw.includes("\u0000")
    ? Effect.fail(invalidRequest(`Invalid value for '${name}': a NUL character is not allowed.`, name))
    : Effect.succeed(raw)
}

const optionalLimit = (q: URLSearchParams): Effect.Effect<number | undefined, ApiError> => {
  const raw = q.get("limit")
  if (raw === null || raw === "") return Effect.succeed(undefined)
  const n = Number(raw)
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? Effect.succeed(n) : Effect.fail(invalidRequest("Invalid value for 'limit': expected an integer from 1 to 1000.", "limit"))
}

const ledgerNotConfigured = new ApiError({
  status: 503,
  type: "server_error",
  message: "This server keeps no spend ledger (no database).",
  param: null,
  code: "ledger_unavailable"
})

const ledgerUnreachable = new ApiError({
  status: 503,
  type: "server_error",
  message: "The spend ledger's database cannot be reached right now; retry shortly.",
  param: null,
  code: "ledger_unavailable",
  headers: { "retry-after": "1" }
})

/**
 * Master key only (or keys off); ApiErrors and GatewayErrors become their OpenAI-shaped responses. The
 * database is looked up, not required, so servers built without one (tests) still build: they answer 503.
 */
const masterOnly = <E>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, SqlClient.SqlClient | HttpServerRequest.HttpServerRequest>) =>
  orGatewayErrorResponse(Effect.andThen(requireMaster, Effect.gen(function*() {
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    if (sql._tag === "None") return yield* ledgerNotConfigured
    // Through the database's guard: a hung or stopped database is a 503 within its timeout, not a hang or a 500.
    return yield* (yield* DatabaseGuard).run(Effect.provideService(handler, SqlClient.SqlClient, sql.value)).pipe(
      Effect.catchIf(isDatabaseOutage, () => Effect.fail(ledgerUnreachable))
    )
  }))).pipe(
    Effect.catchIf((e): e is ApiError => (e as { _tag?: unknown } | null)?._tag === "ApiError", (e) => Effect.succeed(errorResponse(e)))
  )

/**
 * GET /spend/logs?key=&team=&user=&model=&request_id=&client_request_id=&since=&until=&limit= : ledger rows,
 * newest first (`request_id` is the server's id, x-inferline-request-id; `client_request_id` the
 * x-request-id a client sent, which many requests may share).
 */
const spendLogsRoute = HttpRouter.add("GET", "/spend/logs", masterOnly(Effect.gen(function*() {
  const q = yield* queryOf
  const rows = yield* spendLogs({
    requestId: yield* optionalText(q, "request_id"),
    clientRequestId: yield* optionalText(q, "client_request_id"),
    keyId: yield* optionalText(q, "key"),
    teamId: yield* optionalText(q, "team"),
    endUser: yield* optionalText(q, "user"),
    model: yield* optionalText(q, "model"),
    since: yield* optionalDate(q, "since"),
    until: yield* optionalDate(q, "until"),
    limit: yield* optionalLimit(q)
  })
  return HttpServerResponse.jsonUnsafe({ object: "list", data: rows })
})))

/** GET /spend/report?group_by=key|team|model|tag|user&since=&until= : daily totals from the aggregates. */
const spendReportRoute = HttpRouter.add("GET", "/spend/report", masterOnly(Effect.gen(function*() {
  const q = yield* queryOf
  const groupBy = q.get("group_by") ?? "model"
  if (!(SPEND_GROUPS as ReadonlyArray<string>).includes(groupBy)) {
    return yield* invalidRequest(`Invalid value for 'group_by': expected one of ${SPEND_GROUPS.join(", ")}.`, "group_by")
  }
  const rows = yield* spendReport(groupBy as SpendGroup, { since: yield* optionalDate(q, "since"), until: yield* optionalDate(q, "until") })
  const totals = new Map<string, number>()
  for (const r of rows) totals.set(r.group, (totals.get(r.group) ?? 0) + r.spend)
  return HttpServerResponse.jsonUnsafe({
    object: "spend_report",
    group_by: groupBy,
    totals: [...totals].map(([group, spend]) => ({ group, spend })).sort((a, b) => b.spend - a.spend),
    daily: rows
  })
})))

/** The spend API (needs the Gateway for the master-key check and the SqlClient for the ledger). */
/** GET /evaluation/scores?request_id= : the evaluators' scores of one request (src/evaluation). */
const scoresRoute = HttpRouter.add("GET", "/evaluation/scores", masterOnly(Effect.gen(function*() {
  const q = yield* queryOf
  const requestId = yield* optionalText(q, "request_id")
  if (requestId === undefined) return yield* invalidRequest("Missing query parameter 'request_id'.", "request_id")
  return HttpServerResponse.jsonUnsafe({ object: "list", data: yield* scoresOfRequest(requestId) })
})))

export const spendRoutes = Layer.mergeAll(spendLogsRoute, spendReportRoute, scoresRoute)
