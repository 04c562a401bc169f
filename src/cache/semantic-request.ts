import { cacheKey, type CacheScope } from "./cache-key.ts"
import type { CacheSettings, SemanticOptIn } from "./cache-settings.ts"
import { normalizedQuery } from "./semantic/normalized-query.ts"

/** Who is asking, as the semantic cache's opt-in reads it. */
export interface CacheRequester extends CacheScope {
  readonly tags: ReadonlyArray<string>
  readonly keyMetadata: Readonly<Record<string, unknown>> | undefined
  readonly teamMetadata: Readonly<Record<string, unknown>> | undefined
}

/**
 * Whether the semantic cache is on for a request: the key's metadata `semantic_cache` (true/false) wins,
 * then its team's, then the configured lists (model group, team, key, any of the request's tags).
 */
export const semanticOptedIn = (optIn: SemanticOptIn, group: string, who: CacheRequester): boolean => {
  const own = who.keyMetadata?.semantic_cache ?? who.teamMetadata?.semantic_cache
  if (typeof own === "boolean") return own
  return optIn.all || optIn.groups.has(group) ||
    (who.teamId !== null && optIn.teams.has(who.teamId)) ||
    (who.keyId !== null && optIn.keys.has(who.keyId)) ||
    who.tags.some((t) => optIn.tags.has(t))
}

/** A request as the semantic cache sees it: the partition it may match in, and its query text. */
export interface SemanticQuery {
  readonly partition: string
  readonly query: string
}

/**
 * The request's partition and query, or undefined when it is no candidate (see normalizedQuery). The
 * partition is the exact key of the request without its last user turn (or prompt): two requests can
 * only share an answer when their scope, model group, system prompt, earlier turns and every parameter
 * are the same. It has the exact key's shape, so DELETE /cache selects partitions as it selects keys.
 */
export const semanticQuery = (
  settings: CacheSettings,
  kind: "chat" | "completions",
  group: string,
  scope: CacheScope,
  body: Readonly<Record<string, unknown>>
): SemanticQuery | undefined => {
  const query = normalizedQuery(body, { maxWords: settings.semantic?.maxWords })
  if (query === undefined) return undefined
  const rest = Array.isArray(body.messages) ? { ...body, messages: body.messages.slice(0, -1) } : { ...body, prompt: undefined }
  return { partition: cacheKey(settings, kind, group, scope, { ...rest, semantic_partition: true }), query }
}
