import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { cacheControlsOf } from "../../src/cache/cache-controls.ts"
import { cacheKey, canonicalJson, isDeterministic, keyMatches, keyPattern } from "../../src/cache/cache-key.ts"
import { defaultCacheSettings } from "../../src/cache/cache-settings.ts"
import type { CachedResponse } from "../../src/cache/cached-response.ts"
import { makeMemoryResponseStore } from "../../src/cache/memory-response-store.ts"

const base = {
  model: "gpt",
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2+2?" }],
  temperature: 0,
  max_tokens: 20
}
const scope = { keyId: "k1", teamId: "t1" }
const key = (body: Record<string, unknown>, s = scope, settings = defaultCacheSettings) => cacheKey(settings, "chat", "gpt", s, body)

describe("the exact cache's key", () => {
  it("changes with every field that changes the answer", () => {
    const changes: Array<Record<string, unknown>> = [
      { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2+3?" }] },
      { messages: [{ role: "system", content: "Be verbose." }, { role: "user", content: "What is 2+2?" }] },
      { temperature: 0.5 }, { top_p: 0.9 }, { top_k: 5 }, { min_p: 0.1 }, { seed: 1 }, { n: 2 }, { stop: ["\n"] }, { max_tokens: 21 },
      { max_completion_tokens: 20 }, { presence_penalty: 1 }, { frequency_penalty: 1 }, { repetition_penalty: 1.1 }, { logit_bias: { 5: 10 } },
      { logprobs: true }, { top_logprobs: 2 }, { response_format: { type: "json_object" } },
      { tools: [{ type: "function", function: { name: "f", parameters: {} } }] }, { tool_choice: "required" }, { ignore_eos: true },
      { min_tokens: 2 }, { stop_token_ids: [3] }, { echo: true }, { add_generation_prompt: false }
    ]
    const keys = new Set([key(base), ...changes.map((c) => key({ ...base, ...c }))])
    expect(keys.size).toBe(changes.length + 1)
    // Another group, another endpoint.
    expect(cacheKey(defaultCacheSettings, "chat", "other", scope, base)).not.toBe(key(base))
    expect(cacheKey(defaultCacheSettings, "completions", "gpt", scope, base)).not.toBe(key(base))
  })

  it("does not change with how the answer is delivered or accounted, nor with key order", () => {
    const same = [
      { stream: true }, { stream_options: { include_usage: true } }, { user: "u1" }, { tags: ["a"] }, { metadata: { x: 1 } },
      { cache: { ttl: 5 } }, { priority: 3 }, { cache_salt: "s" }, { model: "alias-of-gpt" }
    ]
    for (const c of same) expect(key({ ...base, ...c }), JSON.stringify(c)).toBe(key(base))
    const reordered = { max_tokens: 20, temperature: 0, messages: [{ content: "Be brief.", role: "system" }, { content: "What is 2+2?", role: "user" }] }
    expect(key(reordered)).toBe(key(base))
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 1 }] })).toBe('{"a":[{"c":1,"d":2}],"b":1}')
  })

  it("keeps scopes apart: key scope by key, team scope by team, global shared", () => {
    expect(key(base, { keyId: "k2", teamId: "t1" })).not.toBe(key(base))
    const team = { ...defaultCacheSettings, scope: "team" as const }
    expect(key(base, { keyId: "k2", teamId: "t1" }, team)).toBe(key(base, scope, team))
    expect(key(base, { keyId: "k1", teamId: "t2" }, team)).not.toBe(key(base, scope, team))
    const global = { ...defaultCacheSettings, scope: "global" as const }
    expect(key(base, { keyId: "k9", teamId: "t9" }, global)).toBe(key(base, scope, global))
  })

  it("is deterministic only for temperature 0 or a seed", () => {
    expect(isDeterministic({ temperature: 0 })).toBe(true)
    expect(isDeterministic({ temperature: 1, seed: 7 })).toBe(true)
    expect(isDeterministic({})).toBe(false)
    expect(isDeterministic({ temperature: 0.2 })).toBe(false)
    expect(isDeterministic({ seed: 1.5 })).toBe(false)
  })

  it("selectors match what they name, in memory and as a Redis pattern", () => {
    const k = key(base)
    expect(keyMatches(k, {})).toBe(true)
    expect(keyMatches(k, { keyId: "k1" })).toBe(true)
    expect(keyMatches(k, { keyId: "k2" })).toBe(false)
    expect(keyMatches(k, { teamId: "t1", group: "gpt" })).toBe(true)
    expect(keyMatches(k, { group: "other" })).toBe(false)
    expect(keyPattern("inferline", { keyId: "k*1" })).toBe("inferline:*:*:k\\*1:*:*")
  })
})

describe("cache controls", () => {
  it("reads LiteLLM's cache field and the Cache-Control header", () => {
    expect(cacheControlsOf({ "no-cache": true, ttl: 60, "s-maxage": 5 }, undefined)).toEqual({ noCache: true, noStore: false, ttlMs: 60_000, maxAgeMs: 5_000, optedIn: true })
    expect(cacheControlsOf(undefined, "no-store, max-age=30")).toEqual({ noCache: false, noStore: true, ttlMs: undefined, maxAgeMs: 30_000, optedIn: false })
    expect(cacheControlsOf({ ttl: -1 }, undefined)).toEqual({ message: "`cache.ttl` must be a number of seconds >= 0.", param: "cache.ttl" })
    expect(cacheControlsOf({ "no-cahce": true }, undefined)).toMatchObject({ param: "cache.no-cahce" })
    expect(cacheControlsOf("yes", undefined)).toMatchObject({ param: "cache" })
  })
})

describe("the in-memory store", () => {
  const entry = (text: string): CachedResponse => ({
    kind: "chat", response: { text }, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, prompt_tokens_details: { cached_tokens: 0 } },
    cost: 0, deployment: "d", provider: "p", storedAt: 0
  })
  it("keeps at most max_bytes, the least recently used leave first, and entries expire", () => {
    let now = 0
    const store = makeMemoryResponseStore(2000, () => now)
    const run = <A>(e: Effect.Effect<A, unknown>) => Effect.runSync(e as Effect.Effect<A>)
    run(store.set("a", entry("x".repeat(300)), 1000))
    run(store.set("b", entry("y".repeat(300)), 1000))
    expect(run(store.get("a"))).toBeDefined() // a is now the most recent
    run(store.set("c", entry("z".repeat(300)), 1000))
    expect(store.bytes()).toBeLessThanOrEqual(2000)
    expect(run(store.get("b"))).toBeUndefined()
    expect(run(store.get("a"))).toBeDefined()
    now = 1001
    expect(run(store.get("a"))).toBeUndefined()
  })
})
