import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { isDatabaseOutage } from "../../db/database-guard.ts"
import { gatewayUnavailable } from "../../gateway/errors.ts"
import { GatewayAdmin, type AdminError } from "../../gateway/gateway-admin.ts"
import type { KeyFields, TeamFields } from "../../gateway/records.ts"
import { readJsonBody } from "../body.ts"
import { KeyBody, TeamBody } from "./admin-schemas.ts"
import { endUserRouteTable } from "./end-user-routes.ts"
import { requireMaster } from "./authenticate-request.ts"
import { ApiError, fromSchemaError, internalError, invalidRequest } from "../../api/api-error.ts"
import { errorResponse } from "../errors.ts"
import { gatewayErrorResponse } from "./gateway-error-response.ts"

const notFound = (what: "key" | "team", id: string) =>
  new ApiError({ status: 404, type: "invalid_request_error", message: `No ${what} with id ${id}.`, param: null, code: "not_found" })

/** Reads and validates the body; unknown fields are a 400 naming the field. */
const readBody = <S extends Schema.Codec<unknown, unknown>>(schema: S) =>
  Effect.flatMap(readJsonBody(Schema.Unknown), (json) =>
    Schema.decodeUnknownEffect(schema)(json, { onExcessProperty: "error" }).pipe(Effect.mapError(fromSchemaError)))

/** Body fields as store fields: null models/metadata mean "none", expires_at becomes a Date. */
const toFields = <B extends Partial<TeamBody & KeyBody>>(body: B): Effect.Effect<KeyFields & TeamFields, ApiError> => {
  const { models, metadata, expires_at, ...rest } = body
  const fields: Record<string, unknown> = { ...rest }
  if (models !== undefined) fields.models = models ?? []
  if (metadata !== undefined) fields.metadata = metadata ?? {}
  if (expires_at !== undefined) {
    const at = expires_at === null ? null : new Date(expires_at)
    if (at !== null && Number.isNaN(at.getTime())) return Effect.fail(invalidRequest("Invalid value for 'expires_at': expected an ISO 8601 time.", "expires_at"))
    fields.expires_at = at
  }
  return Effect.succeed(fields as KeyFields & TeamFields)
}

const flag = (request: HttpServerRequest.HttpServerRequest, name: string) => new URL(request.url, "http://x").searchParams.get(name) === "true"
const param = (request: HttpServerRequest.HttpServerRequest, name: string) => new URL(request.url, "http://x").searchParams.get(name) ?? undefined

const idParam = Effect.map(HttpRouter.params, (p) => p.id ?? "")

const list = (data: ReadonlyArray<unknown>) => HttpServerResponse.jsonUnsafe({ object: "list", data })

const found = (what: "key" | "team", id: string) => (record: unknown) =>
  record === undefined ? Effect.fail(notFound(what, id)) : Effect.succeed(HttpServerResponse.jsonUnsafe(record))

/**
 * Master key only. Failures become OpenAI-shaped errors: gateway refusals (401/403), bad bodies (400),
 * unknown ids (404); a database that is down or hung 503; any other store failure is logged and answered
 * with a generic 500.
 */
const adminHandler = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError | AdminError, R>) =>
  requireMaster.pipe(
    Effect.andThen(handler),
    Effect.catchTags({
      GatewayError: (e) => Effect.succeed(gatewayErrorResponse(e)),
      ApiError: (e) => Effect.succeed(errorResponse(e)),
      InvalidReference: (e) => Effect.succeed(errorResponse(invalidRequest(e.message, e.param))),
      // The database down or hung: 503, retry later; anything else is a fault of ours.
      KeyStoreError: (e) =>
        isDatabaseOutage(e.cause)
          ? Effect.succeed(gatewayErrorResponse(gatewayUnavailable("key store")))
          : Effect.as(Effect.logError(`admin: key store failed (${e.operation})`, e.cause), errorResponse(internalError()))
    })
  )

/**
 * Every admin route, as data: the router is built from it and the auth test walks it, so a route cannot
 * be added without being checked for authentication.
 */
export const adminRouteTable = [
  HttpRouter.route("POST", "/admin/keys", adminHandler(Effect.gen(function*() {
    const admin = yield* GatewayAdmin
    const { record, key } = yield* admin.createKey(yield* Effect.flatMap(readBody(KeyBody), toFields))
    // The only time the secret is shown; it is not stored and cannot be recovered.
    return HttpServerResponse.jsonUnsafe({ ...record, key }, { status: 201 })
  }))),
  HttpRouter.route("GET", "/admin/keys", adminHandler(Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const admin = yield* GatewayAdmin
    return list(yield* admin.listKeys({ teamId: param(request, "team_id"), includeRevoked: flag(request, "include_revoked") }))
  }))),
  HttpRouter.route("GET", "/admin/keys/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.getKey(id)), found("key", id))
  }))),
  HttpRouter.route("PATCH", "/admin/keys/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    const fields = yield* Effect.flatMap(readBody(KeyBody), toFields)
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.updateKey(id, fields)), found("key", id))
  }))),
  HttpRouter.route("DELETE", "/admin/keys/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.revokeKey(id)), found("key", id))
  }))),
  HttpRouter.route("POST", "/admin/teams", adminHandler(Effect.gen(function*() {
    const admin = yield* GatewayAdmin
    const team = yield* admin.createTeam(yield* Effect.flatMap(readBody(TeamBody), toFields))
    return HttpServerResponse.jsonUnsafe(team, { status: 201 })
  }))),
  HttpRouter.route("GET", "/admin/teams", adminHandler(Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const admin = yield* GatewayAdmin
    return list(yield* admin.listTeams({ includeDeleted: flag(request, "include_deleted") }))
  }))),
  HttpRouter.route("GET", "/admin/teams/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.getTeam(id)), found("team", id))
  }))),
  HttpRouter.route("PATCH", "/admin/teams/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    const fields = yield* Effect.flatMap(readBody(TeamBody), toFields)
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.updateTeam(id, fields)), found("team", id))
  }))),
  HttpRouter.route("DELETE", "/admin/teams/:id", adminHandler(Effect.gen(function*() {
    const id = yield* idParam
    return yield* Effect.flatMap(GatewayAdmin.use((a) => a.deleteTeam(id)), found("team", id))
  }))),
  ...endUserRouteTable
] as const

/** The admin API as a router layer to merge into the main router (needs Gateway and GatewayAdmin). */
export const adminRoutes = HttpRouter.addAll(adminRouteTable)
