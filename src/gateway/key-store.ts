import { Context, Data, type Effect } from "effect"
import type { KeyFields, KeyRecord, TeamFields, TeamRecord } from "./records.ts"

/** The database (or whatever backs the store) failed; the gateway answers 503, the admin API 500. */
export class KeyStoreError extends Data.TaggedError("KeyStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** A key found by its hash, with its team (null when it has none). */
export interface KeyWithTeam {
  readonly key: KeyRecord
  readonly team: TeamRecord | null
}

/** A key to insert: its fields plus what is derived from the secret (never the secret itself). */
export interface NewKey extends KeyFields {
  readonly key_hash: string
  readonly key_prefix: string
}

/**
 * Persistence of teams and keys. Lookups of an id that is not a UUID find nothing (rather than fail), so
 * the admin API can answer 404 for any path. Getters return deleted teams and revoked keys too; callers
 * decide what those mean.
 */
export class KeyStore extends Context.Service<KeyStore, {
  readonly createTeam: (fields: TeamFields) => Effect.Effect<TeamRecord, KeyStoreError>
  readonly getTeam: (id: string) => Effect.Effect<TeamRecord | undefined, KeyStoreError>
  readonly listTeams: (options: { readonly includeDeleted: boolean }) => Effect.Effect<ReadonlyArray<TeamRecord>, KeyStoreError>
  readonly updateTeam: (id: string, fields: TeamFields) => Effect.Effect<TeamRecord | undefined, KeyStoreError>
  readonly deleteTeam: (id: string) => Effect.Effect<TeamRecord | undefined, KeyStoreError>
  readonly createKey: (key: NewKey) => Effect.Effect<KeyRecord, KeyStoreError>
  readonly getKey: (id: string) => Effect.Effect<KeyRecord | undefined, KeyStoreError>
  readonly listKeys: (options: { readonly teamId?: string | undefined; readonly includeRevoked: boolean }) => Effect.Effect<ReadonlyArray<KeyRecord>, KeyStoreError>
  readonly updateKey: (id: string, fields: KeyFields) => Effect.Effect<KeyRecord | undefined, KeyStoreError>
  readonly revokeKey: (id: string) => Effect.Effect<KeyRecord | undefined, KeyStoreError>
  readonly findByHash: (keyHash: string) => Effect.Effect<KeyWithTeam | undefined, KeyStoreError>
}>()("inferline/gateway/KeyStore") {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isUuid = (id: string): boolean => UUID.test(id)
