import { Context, Data, Effect } from "effect"
import { displayPrefix, generateApiKey, hashApiKey } from "./api-key.ts"
import type { KeyDirectory } from "./key-directory.ts"
import { KeyStore, type KeyStoreError } from "./key-store.ts"
import type { KeyFields, KeyRecord, TeamFields, TeamRecord } from "./records.ts"

/** A field names something that does not exist (or is gone), e.g. `team_id` of a deleted team. */
export class InvalidReference extends Data.TaggedError("InvalidReference")<{
  readonly param: string
  readonly message: string
}> {}

export type AdminError = KeyStoreError | InvalidReference

/** A key as created: the record and the secret, which exists nowhere else and is shown only this once. */
export interface CreatedKey {
  readonly record: KeyRecord
  readonly key: string
}

/**
 * Managing teams and keys. Every change goes through the key directory's invalidation, so this instance
 * stops honouring a revoked or changed key immediately (other instances within the directory's TTL).
 * Getters return `undefined` for unknown ids.
 */
export class GatewayAdmin extends Context.Service<GatewayAdmin, {
  readonly createTeam: (fields: TeamFields) => Effect.Effect<TeamRecord, AdminError>
  readonly listTeams: (options: { readonly includeDeleted: boolean }) => Effect.Effect<ReadonlyArray<TeamRecord>, AdminError>
  readonly getTeam: (id: string) => Effect.Effect<TeamRecord | undefined, AdminError>
  readonly updateTeam: (id: string, fields: TeamFields) => Effect.Effect<TeamRecord | undefined, AdminError>
  /** Soft delete: the team's keys stop working. */
  readonly deleteTeam: (id: string) => Effect.Effect<TeamRecord | undefined, AdminError>
  readonly createKey: (fields: KeyFields) => Effect.Effect<CreatedKey, AdminError>
  readonly listKeys: (options: { readonly teamId?: string | undefined; readonly includeRevoked: boolean }) => Effect.Effect<ReadonlyArray<KeyRecord>, AdminError>
  readonly getKey: (id: string) => Effect.Effect<KeyRecord | undefined, AdminError>
  readonly updateKey: (id: string, fields: KeyFields) => Effect.Effect<KeyRecord | undefined, AdminError>
  readonly revokeKey: (id: string) => Effect.Effect<KeyRecord | undefined, AdminError>
}>()("inferline/gateway/GatewayAdmin") {}

export const makeGatewayAdmin = (directory: KeyDirectory) =>
  Effect.gen(function*() {
    const store = yield* KeyStore

    /** A key may only join a team that exists and is not deleted. */
    const checkTeam = (teamId: string | null | undefined) =>
      teamId === null || teamId === undefined
        ? Effect.void
        : Effect.flatMap(store.getTeam(teamId), (team) =>
          team === undefined || team.deleted_at !== null
            ? Effect.fail(new InvalidReference({ param: "team_id", message: `No team with id ${teamId}.` }))
            : Effect.void)

    return GatewayAdmin.of({
      createTeam: (fields) => store.createTeam(fields),
      listTeams: (options) => store.listTeams(options),
      getTeam: (id) => store.getTeam(id),
      updateTeam: (id, fields) => Effect.tap(store.updateTeam(id, fields), () => directory.invalidateTeam(id)),
      deleteTeam: (id) => Effect.tap(store.deleteTeam(id), () => directory.invalidateTeam(id)),
      createKey: (fields) =>
        Effect.gen(function*() {
          yield* checkTeam(fields.team_id)
          const key = generateApiKey()
          const hash = hashApiKey(key)
          const record = yield* store.createKey({ ...fields, key_hash: hash, key_prefix: displayPrefix(key) })
          yield* directory.forgetHash(hash)
          return { record, key }
        }),
      listKeys: (options) => store.listKeys(options),
      getKey: (id) => store.getKey(id),
      updateKey: (id, fields) =>
        Effect.gen(function*() {
          yield* checkTeam(fields.team_id)
          const record = yield* store.updateKey(id, fields)
          yield* directory.invalidateKey(id)
          return record
        }),
      revokeKey: (id) => Effect.tap(store.revokeKey(id), () => directory.invalidateKey(id))
    })
  })
