import { Context, Data, Effect } from "effect"
import type { BudgetDuration } from "./records.ts"

/**
 * End users: the people an application calls the API for, named per request by the OpenAI `user`
 * field (or the x-inferline-user header). Most need no record; one is made (POST /admin/end_users) to
 * give an end user a budget or to block them. Ids are the application's own strings.
 */
export interface EndUserRecord {
  readonly id: string
  readonly alias: string | null
  /** Spend at which their requests are refused (400 budget_exceeded), per budget_duration. */
  readonly max_budget: number | null
  /** Spend at which to alert; never blocks. */
  readonly soft_budget: number | null
  readonly budget_duration: BudgetDuration | null
  /** Their requests are refused (403 end_user_blocked). */
  readonly blocked: boolean
  readonly metadata: Readonly<Record<string, unknown>>
  readonly created_at: Date
  readonly updated_at: Date
}

export type EndUserFields = Partial<Omit<EndUserRecord, "id" | "created_at" | "updated_at">>

export class EndUserStoreError extends Data.TaggedError("EndUserStoreError")<{ readonly operation: string; readonly cause: unknown }> {}

export interface EndUserStoreService {
  /** Creates or replaces the given fields of a record (LiteLLM's /customer/new is an upsert too). */
  readonly upsert: (id: string, fields: EndUserFields) => Effect.Effect<EndUserRecord, EndUserStoreError>
  readonly update: (id: string, fields: EndUserFields) => Effect.Effect<EndUserRecord | undefined, EndUserStoreError>
  readonly get: (id: string) => Effect.Effect<EndUserRecord | undefined, EndUserStoreError>
  readonly list: () => Effect.Effect<ReadonlyArray<EndUserRecord>, EndUserStoreError>
  readonly remove: (id: string) => Effect.Effect<boolean, EndUserStoreError>
}

/**
 * Where end-user records live: the database as `inferline serve` runs (sqlEndUserStoreLayer), or, for
 * a server composed without one, this process's memory (like limits without Redis).
 */
export const EndUserStore = Context.Reference<EndUserStoreService>("inferline/gateway/EndUserStore", {
  defaultValue: () => memoryEndUserStore()
})

export const memoryEndUserStore = (): EndUserStoreService => {
  const records = new Map<string, EndUserRecord>()
  const put = (id: string, fields: EndUserFields, base: EndUserRecord) => {
    const record: EndUserRecord = { ...base, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)), id, updated_at: new Date() }
    records.set(id, record)
    return record
  }
  const blank = (id: string): EndUserRecord => {
    const now = new Date()
    return { id, alias: null, max_budget: null, soft_budget: null, budget_duration: null, blocked: false, metadata: {}, created_at: now, updated_at: now }
  }
  return {
    upsert: (id, fields) => Effect.sync(() => put(id, fields, records.get(id) ?? blank(id))),
    update: (id, fields) => Effect.sync(() => (records.has(id) ? put(id, fields, records.get(id)!) : undefined)),
    get: (id) => Effect.sync(() => records.get(id)),
    list: () => Effect.sync(() => [...records.values()]),
    remove: (id) => Effect.sync(() => records.delete(id))
  }
}

/** The longest end-user id accepted (OpenAI's `user` is free text; ids are for grouping, not essays). */
export const MAX_END_USER_ID_LENGTH = 256
