/**
 * The response cache's settings, resolved from the router config's `cache:` section (or LiteLLM's
 * `litellm_settings.cache` + `cache_params`). Off unless configured.
 */
export interface CacheSettings {
  /** Where entries live: this process (bounded by `maxBytes`, least recently used out first), or Redis. */
  readonly type: "local" | "redis"
  /** How long an entry lives, unless a request says otherwise (`cache: {"ttl": s}`). */
  readonly ttlMs: number
  /** Prefix of every key (several deployments of Inferline may share one Redis). */
  readonly namespace: string
  /** Which endpoints are cached. */
  readonly callTypes: ReadonlySet<"chat" | "completions">
  /** default_on: every cacheable request uses the cache; default_off: only those that send `cache: {...}`. */
  readonly mode: "default_on" | "default_off"
  /** Whose requests may share an entry: the same key, the same team, or everyone. */
  readonly scope: "key" | "team" | "global"
  /** Local store only: the most bytes of responses kept. */
  readonly maxBytes: number
  /** Cache only requests whose answer is reproducible (temperature 0, or a seed); on by default. */
  readonly deterministicOnly: boolean
  /** Whether a hit is admitted under the key's rate limits like any request (it still costs nothing). */
  readonly rateLimitHits: boolean
}

export const defaultCacheSettings: CacheSettings = {
  type: "local",
  ttlMs: 600_000,
  namespace: "inferline",
  callTypes: new Set(["chat", "completions"]),
  mode: "default_on",
  scope: "key",
  maxBytes: 64 * 2 ** 20,
  deterministicOnly: true,
  rateLimitHits: true
}
