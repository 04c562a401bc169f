import { Effect, Layer } from "effect"
import { KeyStore, type NewKey } from "./key-store.ts"
import { noLimits, type KeyRecord, type TeamRecord } from "./records.ts"

const withoutUndefined = <A extends object>(a: A): Partial<A> =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Partial<A>

/**
 * The KeyStore in a Map, for tests and for wiring that has no database. Behaves like the SQL store,
 * including records that are copies (callers cannot mutate the store through them).
 */
export const makeMemoryKeyStore = Effect.sync(() => {
  const teams = new Map<string, TeamRecord>()
  const keys = new Map<string, { readonly record: KeyRecord; readonly hash: string }>()
  const idByHash = new Map<string, string>()
  const now = () => new Date()

  const setTeam = (team: TeamRecord) => (teams.set(team.id, team), { ...team })
  const setKey = (record: KeyRecord, hash: string) => (keys.set(record.id, { record, hash }), idByHash.set(hash, record.id), { ...record })

  return KeyStore.of({
    createTeam: (fields) =>
      Effect.sync(() => {
        const at = now()
        return setTeam({ ...noLimits, name: null, ...withoutUndefined(fields), id: crypto.randomUUID(), created_at: at, updated_at: at, deleted_at: null })
      }),
    getTeam: (id) => Effect.sync(() => { const t = teams.get(id); return t && { ...t } }),
    listTeams: ({ includeDeleted }) =>
      Effect.sync(() => [...teams.values()].filter((t) => includeDeleted || t.deleted_at === null).map((t) => ({ ...t }))),
    updateTeam: (id, fields) =>
      Effect.sync(() => {
        const t = teams.get(id)
        return t && setTeam({ ...t, ...withoutUndefined(fields), updated_at: now() })
      }),
    deleteTeam: (id) =>
      Effect.sync(() => {
        const t = teams.get(id)
        return t && setTeam({ ...t, deleted_at: t.deleted_at ?? now(), updated_at: now() })
      }),
    createKey: ({ key_hash, key_prefix, ...fields }: NewKey) =>
      Effect.sync(() => {
        const at = now()
        const record: KeyRecord = {
          ...noLimits,
          name: null,
          team_id: null,
          expires_at: null,
          ...withoutUndefined(fields),
          id: crypto.randomUUID(),
          key_prefix,
          revoked_at: null,
          created_at: at,
          updated_at: at
        }
        return setKey(record, key_hash)
      }),
    getKey: (id) => Effect.sync(() => { const k = keys.get(id); return k && { ...k.record } }),
    listKeys: ({ teamId, includeRevoked }) =>
      Effect.sync(() =>
        [...keys.values()]
          .map((k) => k.record)
          .filter((k) => (includeRevoked || k.revoked_at === null) && (teamId === undefined || k.team_id === teamId))
          .map((k) => ({ ...k }))
      ),
    updateKey: (id, fields) =>
      Effect.sync(() => {
        const k = keys.get(id)
        return k && setKey({ ...k.record, ...withoutUndefined(fields), updated_at: now() }, k.hash)
      }),
    revokeKey: (id) =>
      Effect.sync(() => {
        const k = keys.get(id)
        return k && setKey({ ...k.record, revoked_at: k.record.revoked_at ?? now(), updated_at: now() }, k.hash)
      }),
    findByHash: (keyHash) =>
      Effect.sync(() => {
        const id = idByHash.get(keyHash)
        const record = id === undefined ? undefined : keys.get(id)?.record
        if (record === undefined) return undefined
        const team = record.team_id === null ? null : teams.get(record.team_id) ?? null
        return { key: { ...record }, team: team && { ...team } }
      })
  })
})

export const memoryKeyStoreLayer: Layer.Layer<KeyStore> = Layer.effect(KeyStore, makeMemoryKeyStore)
