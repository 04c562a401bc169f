import type { Principal } from "../gateway/principal.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"

/** Headers that carry a request's tags, comma-separated: Inferline's, and LiteLLM's for its clients. */
const TAG_HEADERS = ["x-inferline-tags", "x-litellm-tags"] as const

const NO_TAGS: ReadonlyArray<string> = []

/** A tag the ledger can store and a dashboard can show: 1-256 characters, no control characters (a NUL fails a Postgres batch). */
const SANE_TAG = /^[^\u0000-\u001f\u007f]{1,256}$/
const isTag = (t: unknown): t is string => typeof t === "string" && SANE_TAG.test(t)

/** `metadata.tags` of a key or team record, when it is a list of strings (as LiteLLM keeps them). */
const metadataTags = (metadata: Readonly<Record<string, unknown>> | undefined): ReadonlyArray<string> => {
  const tags = metadata?.tags
  return Array.isArray(tags) ? tags.filter(isTag) : NO_TAGS
}

/**
 * A request's tags: the body's `tags` (an array of strings, as LiteLLM takes them), the tag headers, and
 * the `metadata.tags` of the caller's key and team (every request of the key carries them), without
 * repeats. They go into the request's ledger row and, with `enable_tag_filtering`, pick the deployments
 * (src/router/tag-filter.ts); they are not sent upstream (see `withoutGatewayFields`).
 */
export const requestTags = (
  body: Readonly<Record<string, unknown>>,
  headers: Readonly<Record<string, string | undefined>>,
  principal: Principal
): ReadonlyArray<string> | ApiError => {
  const fromBody = body.tags
  if (fromBody !== undefined && fromBody !== null && !(Array.isArray(fromBody) && fromBody.every(isTag))) {
    return invalidRequest("`tags` must be an array of strings of 1-256 characters without control characters.", "tags")
  }
  // Made only when there is a tag: most requests have none.
  let tags: Array<string> | undefined
  const add = (tag: string) => {
    if (!(tags ??= []).includes(tag)) tags.push(tag)
  }
  if (Array.isArray(fromBody)) for (const tag of fromBody as ReadonlyArray<string>) add(tag)
  for (const name of TAG_HEADERS) {
    const header = headers[name]
    if (header === undefined) continue
    for (const t of header.split(",")) {
      const tag = t.trim()
      if (isTag(tag)) add(tag)
    }
  }
  if (principal._tag === "Key") {
    for (const tag of metadataTags(principal.key.metadata)) add(tag)
    for (const tag of metadataTags(principal.team?.metadata)) add(tag)
  }
  return tags ?? NO_TAGS
}

/**
 * The body as upstreams get it: `tags`, `cache` and `guardrails` are the gateway's (and LiteLLM's)
 * fields, not a provider's parameters (OpenAI refuses unknown ones).
 */
export const withoutGatewayFields = (body: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> => {
  if (!("tags" in body) && !("cache" in body) && !("guardrails" in body)) return body
  const { tags: _, cache: __, guardrails: ___, ...rest } = body
  return rest
}
