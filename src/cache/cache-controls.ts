/**
 * What one request says about caching, as LiteLLM spells it in the body (`"cache": {"no-cache": true,
 * "no-store": true, "ttl": 600, "s-maxage": 60}`) and HTTP in a `Cache-Control` header (`no-cache`,
 * `no-store`, `max-age=60`, `s-maxage=60`).
 */
export interface CacheControls {
  /** Do not answer from the cache. */
  readonly noCache: boolean
  /** Do not store this answer. */
  readonly noStore: boolean
  /** How long to keep this answer (ms), instead of the configured ttl. */
  readonly ttlMs: number | undefined
  /** Accept a cached answer only if it is at most this old (ms). */
  readonly maxAgeMs: number | undefined
  /** The request asked for caching explicitly (it matters in mode default_off). */
  readonly optedIn: boolean
}

const NONE: CacheControls = { noCache: false, noStore: false, ttlMs: undefined, maxAgeMs: undefined, optedIn: false }

const seconds = (x: unknown): number | undefined => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? Math.round(x * 1000) : undefined)

/** A problem with the body's `cache` field, as a message naming it. */
export type CacheControlsError = { readonly message: string; readonly param: string }

/** The request's controls, from the body's `cache` field and the Cache-Control header; an error for a malformed field. */
export const cacheControlsOf = (cache: unknown, header: string | undefined): CacheControls | CacheControlsError => {
  let controls = NONE
  if (cache !== undefined && cache !== null) {
    if (typeof cache !== "object" || Array.isArray(cache)) return { message: "`cache` must be an object such as {\"no-cache\": true, \"ttl\": 600}.", param: "cache" }
    const c = cache as Record<string, unknown>
    for (const [k, v] of Object.entries(c)) {
      if (k === "no-cache" || k === "no-store") {
        if (typeof v !== "boolean") return { message: `\`cache.${k}\` must be true or false.`, param: `cache.${k}` }
      } else if (k === "ttl" || k === "s-maxage") {
        if (seconds(v) === undefined) return { message: `\`cache.${k}\` must be a number of seconds >= 0.`, param: `cache.${k}` }
      } else return { message: `Unknown \`cache\` control \`${k}\` (known: no-cache, no-store, ttl, s-maxage).`, param: `cache.${k}` }
    }
    controls = { noCache: c["no-cache"] === true, noStore: c["no-store"] === true, ttlMs: seconds(c.ttl), maxAgeMs: seconds(c["s-maxage"]), optedIn: true }
  }
  if (header === undefined) return controls
  for (const directive of header.toLowerCase().split(",")) {
    const [name, value] = directive.trim().split("=")
    if (name === "no-cache") controls = { ...controls, noCache: true }
    else if (name === "no-store") controls = { ...controls, noStore: true }
    else if ((name === "max-age" || name === "s-maxage") && value !== undefined && /^\d+$/.test(value)) {
      controls = { ...controls, maxAgeMs: Number(value) * 1000 }
    }
  }
  return controls
}
