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
  /** The semantic cache, when configured (it needs the exact cache's store for the answers). */
  readonly semantic: SemanticCacheSettings | undefined
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
  rateLimitHits: true,
  semantic: undefined
}

/**
 * The semantic half of the response cache (`cache.semantic`): a deterministic request that misses the
 * exact cache may be answered with the stored answer of a request that means the same (its last user
 * turn near enough in embedding space and passing the same-meaning guard), with everything else equal.
 * Opt-in: for the model groups, teams, keys and tags listed, or a key or team whose metadata says
 * `semantic_cache: true` (`false` turns it off for them, the key over its team).
 */
export interface SemanticCacheSettings {
  /** Cosine similarity a hit needs. */
  readonly threshold: number
  /** `builtin`: the offline SIF embedder; else the model group of an OpenAI-compatible embedding deployment. */
  readonly embedding: { readonly _tag: "Builtin" } | { readonly _tag: "Group"; readonly group: string }
  readonly enabledFor: SemanticOptIn
  /** The most entries the in-process index keeps (least recently used out first). */
  readonly maxEntries: number
  /** Last user turns longer than this many words go to the exact cache only. */
  readonly maxWords: number
}

/** Who the semantic cache is on for; `all` when LiteLLM's `type: redis-semantic` turns it on for everyone. */
export interface SemanticOptIn {
  readonly all: boolean
  readonly groups: ReadonlySet<string>
  readonly teams: ReadonlySet<string>
  readonly keys: ReadonlySet<string>
  readonly tags: ReadonlySet<string>
}
