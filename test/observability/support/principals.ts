import type { Principal } from "../../../src/gateway/principal.ts"
import { noLimits, type KeyRecord, type Limits, type TeamRecord } from "../../../src/gateway/records.ts"

const at = new Date(0)

export const keyRecord = (id: string, limits: Partial<Limits> = {}, teamId: string | null = null): KeyRecord => ({
  ...noLimits,
  ...limits,
  id,
  key_prefix: `sk-inf-${id.slice(0, 5)}`,
  name: null,
  team_id: teamId,
  expires_at: null,
  revoked_at: null,
  created_at: at,
  updated_at: at
})

export const teamRecord = (id: string, limits: Partial<Limits> = {}): TeamRecord => ({ ...noLimits, ...limits, id, name: null, created_at: at, updated_at: at, deleted_at: null })

export const keyPrincipal = (key: KeyRecord, team: TeamRecord | null = null): Principal => ({ _tag: "Key", key, team })
