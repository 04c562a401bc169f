import { Context, Data, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The responses /v1/responses stores (`store: true`, its default): in the database as served (the
 * `stored_responses` table of migration 0008, Postgres or the embedded PGlite), in memory otherwise.
 * Every read and delete names the owner: a response made with one key is not found with another.
 */
export interface StoredResponse {
  readonly id: string
  /** Who made it: `key:<id>`, `master`, or `auth-off`. */
  readonly owner: string
  readonly model: string
  readonly createdAt: Date
  /** The response object as answered. */
  readonly response: unknown
  /** The request's input items, each with its id (GET /v1/responses/{id}/input_items). */
  readonly inputItems: ReadonlyArray<unknown>
  /** The whole conversation through this response, as chat messages (what previous_response_id continues). */
  readonly conversation: ReadonlyArray<unknown>
}

export class StoredResponsesError extends Data.TaggedError("StoredResponsesError")<{ readonly operation: string; readonly cause: unknown }> {}

export interface StoredResponsesService {
  readonly put: (r: StoredResponse) => Effect.Effect<void, StoredResponsesError>
  readonly get: (id: string, owner: string) => Effect.Effect<StoredResponse | undefined, StoredResponsesError>
  /** True when it existed (for this owner) and is gone. */
  readonly remove: (id: string, owner: string) => Effect.Effect<boolean, StoredResponsesError>
}

export const memoryStoredResponses = (): StoredResponsesService => {
  const rows = new Map<string, StoredResponse>()
  return {
    put: (r) => Effect.sync(() => void rows.set(r.id, r)),
    get: (id, owner) => Effect.sync(() => {
      const r = rows.get(id)
      return r?.owner === owner ? r : undefined
    }),
    remove: (id, owner) => Effect.sync(() => rows.get(id)?.owner === owner && rows.delete(id))
  }
}

export const StoredResponses = Context.Reference<StoredResponsesService>("inferline/ledger/StoredResponses", {
  defaultValue: () => memoryStoredResponses()
})

interface Row {
  readonly id: string
  readonly owner: string
  readonly model: string
  readonly created_at: Date
  readonly response: unknown
  readonly input_items: ReadonlyArray<unknown>
  readonly conversation: ReadonlyArray<unknown>
}

/** jsonb comes back parsed from Postgres; PGlite may hand back text. */
const json = (x: unknown) => (typeof x === "string" ? JSON.parse(x) : x)

export const makeSqlStoredResponses = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = (operation: string) => (cause: unknown) => new StoredResponsesError({ operation, cause })
  const service: StoredResponsesService = {
    put: (r) =>
      sql`INSERT INTO stored_responses ${
        sql.insert({
          id: r.id,
          owner: r.owner,
          model: r.model,
          created_at: r.createdAt,
          response: JSON.stringify(r.response),
          input_items: JSON.stringify(r.inputItems),
          conversation: JSON.stringify(r.conversation)
        })
      }`.pipe(Effect.asVoid, Effect.mapError(fail("put"))),
    get: (id, owner) =>
      sql`SELECT id, owner, model, created_at, response, input_items, conversation FROM stored_responses WHERE id = ${id} AND owner = ${owner}`.pipe(
        Effect.map((rows) => {
          const r = rows[0] as unknown as Row | undefined
          return r === undefined
            ? undefined
            : { id: r.id, owner: r.owner, model: r.model, createdAt: new Date(r.created_at), response: json(r.response), inputItems: json(r.input_items), conversation: json(r.conversation) }
        }),
        Effect.mapError(fail("get"))
      ),
    remove: (id, owner) =>
      sql`DELETE FROM stored_responses WHERE id = ${id} AND owner = ${owner} RETURNING id`.pipe(Effect.map((rows) => rows.length > 0), Effect.mapError(fail("remove")))
  }
  return service
})

export const sqlStoredResponsesLayer: Layer.Layer<never, never, SqlClient.SqlClient> = Layer.effect(StoredResponses, makeSqlStoredResponses)
