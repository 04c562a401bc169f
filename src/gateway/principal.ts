import type { KeyRecord, TeamRecord } from "./records.ts"

/**
 * Who is calling, as decided by Gateway.authenticate:
 * - `AuthOff`: no master key is configured, so keys are off and everything is allowed (loopback only);
 * - `Master`: the master key; may use the admin API and every model, and has no limits;
 * - `Key`: an API key, with its team when it has one; both sets of limits apply.
 */
export type Principal =
  | { readonly _tag: "AuthOff" }
  | { readonly _tag: "Master" }
  | { readonly _tag: "Key"; readonly key: KeyRecord; readonly team: TeamRecord | null }

export const authOff: Principal = { _tag: "AuthOff" }
export const master: Principal = { _tag: "Master" }

/** A short, non-secret description for logs and spans: never the key itself. */
export const describePrincipal = (p: Principal): string =>
  p._tag === "Key" ? `key ${p.key.key_prefix}… (${p.key.id})${p.team ? ` team ${p.team.id}` : ""}` : p._tag === "Master" ? "master key" : "auth off"
