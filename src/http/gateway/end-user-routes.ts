import { Effect, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { ApiError, fromSchemaError, internalError } from "../../api/api-error.ts"
import { type EndUserFields, EndUserStore, type EndUserStoreError, MAX_END_USER_ID_LENGTH } from "../../gateway/end-users.ts"
import { BUDGET_DURATIONS } from "../../gateway/records.ts"
import { readJsonBody } from "../body.ts"
import { errorResponse } from "../errors.ts"
import { requireMaster } from "./authenticate-request.ts"
import { gatewayErrorResponse } from "./gateway-error-response.ts"

/**
 * The end users' admin API (master key): records for the end users an application names with `user`
 * or x-inferline-user, to give them a budget or block them. LiteLLM keeps the same records as
 * "customers" (/customer/new, /customer/block): the fields are its names.
 */
const optional = <S extends Schema.Top>(schema: S, description: string) => Schema.optionalKey(Schema.NullOr(schema).annotate({ description }))
const Amount = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Text = (max: number) => Schema.String.check(Schema.isMaxLength(max), Schema.makeFilter((s: string) => (s.includes("\u0000") ? "must not contain a NUL character" : undefined)))

const fields = {
  alias: optional(Text(256), "A label for people."),
  max_budget: optional(Amount, "Spend at which their requests are refused (400 budget_exceeded), per budget_duration."),
  soft_budget: optional(Amount, "Spend at which to alert; never blocks."),
  budget_duration: optional(Schema.Literals(BUDGET_DURATIONS), "daily, weekly or monthly; none: the budget never resets."),
  blocked: Schema.optionalKey(Schema.Boolean.annotate({ description: "Refuse their requests (403 end_user_blocked)." })),
  metadata: optional(Schema.Record(Schema.String, Schema.Unknown), "Free-form JSON object.")
}
const NewEndUser = Schema.Struct({
  user_id: Text(MAX_END_USER_ID_LENGTH).check(Schema.isMinLength(1)).annotate({ description: "The id the application sends as `user` or x-inferline-user." }),
  ...fields
})
const EndUserPatch = Schema.Struct(fields)

const readBody = <S extends Schema.Codec<unknown, unknown>>(schema: S) =>
  Effect.flatMap(readJsonBody(Schema.Unknown), (json) => Schema.decodeUnknownEffect(schema)(json, { onExcessProperty: "error" }).pipe(Effect.mapError(fromSchemaError)))

/** Body fields as record fields: a null metadata is none. */
const toFields = (body: typeof EndUserPatch.Type): EndUserFields => {
  const { metadata, ...rest } = body
  return { ...rest, ...(metadata !== undefined && { metadata: metadata ?? {} }) } as EndUserFields
}

const notFound = (id: string) =>
  new ApiError({ status: 404, type: "invalid_request_error", message: `No end user with id ${JSON.stringify(id)}.`, param: null, code: "not_found" })

const idParam = Effect.map(HttpRouter.params, (p) => decodeURIComponent(p.id ?? ""))

const handler = <R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError | EndUserStoreError, R>) =>
  requireMaster.pipe(
    Effect.andThen(effect),
    Effect.catchTags({
      GatewayError: (e) => Effect.succeed(gatewayErrorResponse(e)),
      ApiError: (e) => Effect.succeed(errorResponse(e)),
      EndUserStoreError: (e) => Effect.as(Effect.logError(`admin: end-user store failed (${e.operation})`, e.cause), errorResponse(internalError()))
    })
  )

const found = (id: string) => (record: unknown) => (record === undefined ? Effect.fail(notFound(id)) : Effect.succeed(HttpServerResponse.jsonUnsafe(record)))

export const endUserRouteTable = [
  HttpRouter.route("POST", "/admin/end_users", handler(Effect.gen(function*() {
    const { user_id, ...body } = yield* readBody(NewEndUser)
    const record = yield* EndUserStore.use((s) => s.upsert(user_id, toFields(body)))
    return HttpServerResponse.jsonUnsafe(record, { status: 201 })
  }))),
  HttpRouter.route("GET", "/admin/end_users", handler(Effect.map(EndUserStore.use((s) => s.list()), (data) => HttpServerResponse.jsonUnsafe({ object: "list", data })))),
  HttpRouter.route("GET", "/admin/end_users/:id", handler(Effect.gen(function*() {
    const id = yield* idParam
    return yield* Effect.flatMap(EndUserStore.use((s) => s.get(id)), found(id))
  }))),
  HttpRouter.route("PATCH", "/admin/end_users/:id", handler(Effect.gen(function*() {
    const id = yield* idParam
    const body = yield* readBody(EndUserPatch)
    return yield* Effect.flatMap(EndUserStore.use((s) => s.update(id, toFields(body))), found(id))
  }))),
  HttpRouter.route("DELETE", "/admin/end_users/:id", handler(Effect.gen(function*() {
    const id = yield* idParam
    const removed = yield* EndUserStore.use((s) => s.remove(id))
    if (!removed) return yield* notFound(id)
    return HttpServerResponse.jsonUnsafe({ id, object: "end_user", deleted: true })
  })))
] as const
