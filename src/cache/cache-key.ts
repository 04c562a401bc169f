import { createHash } from "node:crypto"
import type { CacheSettings } from "./cache-settings.ts"

/**
 * The exact cache's key: a hash of everything in the request that can change the answer, with the
 * model group (after alias resolution: every alias of a group shares its entries) and the scope the
 * entry is shared in. Fields that only change how the answer is delivered or accounted are left out.
 */

/** Request fields that never change the answer. */
const IGNORED_FIELDS: ReadonlySet<string> = new Set([
  "model", // the group, resolved, is part of the key instead
  "stream",
  "stream_options", // the usage chunk is replayed when asked for
  "user",
  "tags",
  "metadata",
  "cache",
  "store",
  "service_tier",
  "priority", // scheduling order only
  "cache_salt", // prefix-cache isolation only
  "speculative_decoding" // lossless: speed only
])

/** JSON with object keys sorted at every level: the same request always gives the same text. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`
}

/** Whether the answer is reproducible: greedy (temperature 0) or seeded. */
export const isDeterministic = (body: Readonly<Record<string, unknown>>): boolean =>
  body.temperature === 0 || (typeof body.seed === "number" && Number.isSafeInteger(body.seed))

/** Who may share an entry, as the key's scope part: `key:<id>`, `team:<id>` or `global`. */
export interface CacheScope {
  readonly keyId: string | null
  readonly teamId: string | null
}

const part = (s: string) => encodeURIComponent(s)

/**
 * The entry's key: `<namespace>:<scope>:<team>:<key>:<group>:<hash>` ("-" where a part is not in the
 * scope), so entries can be cleared by key, team or model group with one pattern.
 */
export const cacheKey = (
  settings: Pick<CacheSettings, "namespace" | "scope">,
  kind: "chat" | "completions",
  group: string,
  scope: CacheScope,
  body: Readonly<Record<string, unknown>>
): string => {
  const hash = createHash("sha256").update(kind).update("\n")
  for (const k of Object.keys(body).filter((k) => !IGNORED_FIELDS.has(k)).sort()) hash.update(`${k}=${canonicalJson(body[k])}\n`)
  const team = settings.scope === "global" ? "-" : scope.teamId ?? "-"
  const key = settings.scope === "key" ? scope.keyId ?? "-" : "-"
  return `${part(settings.namespace)}:${settings.scope}:${part(team)}:${part(key)}:${part(group)}:${hash.digest("hex")}`
}

/** What to clear (DELETE /cache): everything, or the entries of a key, a team or a model group. */
export interface CacheSelector {
  readonly keyId?: string | undefined
  readonly teamId?: string | undefined
  readonly group?: string | undefined
}

/** Whether an entry's key falls under a selector (the key's parts, as cacheKey wrote them). */
export const keyMatches = (key: string, selector: CacheSelector): boolean => {
  const [, , team, keyId, group] = key.split(":")
  return (selector.teamId === undefined || team === part(selector.teamId)) &&
    (selector.keyId === undefined || keyId === part(selector.keyId)) &&
    (selector.group === undefined || group === part(selector.group))
}

/** The Redis MATCH pattern for a selector within a namespace (Redis glob: `*` for the free parts). */
export const keyPattern = (namespace: string, selector: CacheSelector): string => {
  const glob = (s: string | undefined) => (s === undefined ? "*" : part(s).replace(/[*?[\]\\]/g, "\\$&"))
  return `${part(namespace)}:*:${glob(selector.teamId)}:${glob(selector.keyId)}:${glob(selector.group)}:*`
}

/** The same selection as a POSIX regular expression over whole keys of one namespace (for SQL `~`). */
export const keyRegex = (namespace: string, selector: CacheSelector): string => {
  const exact = (s: string) => part(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const field = (s: string | undefined) => (s === undefined ? "[^:]*" : exact(s))
  return `^${exact(namespace)}:[^:]*:${field(selector.teamId)}:${field(selector.keyId)}:${field(selector.group)}:[^:]*$`
}
