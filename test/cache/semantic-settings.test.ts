import { describe, expect, it } from "vitest"
import { cacheKey, keyMatches, keyRegex } from "../../src/cache/cache-key.ts"
import { defaultCacheSettings } from "../../src/cache/cache-settings.ts"
import { semanticOptedIn, semanticQuery } from "../../src/cache/semantic-request.ts"
import { parseRouterConfig } from "../../src/router/config.ts"

const remote = { model_name: "remote", litellm_params: { model: "openai/r", api_base: "http://127.0.0.1:9/v1" } }

describe("semantic cache settings", () => {
  it("reads LiteLLM's redis-semantic as the Redis store with the semantic cache on for everyone", () => {
    const config = parseRouterConfig({ model_list: [remote], litellm_settings: { cache: true, cache_params: { type: "redis-semantic", similarity_threshold: 0.9 } } })
    expect(config.cache?.type).toBe("redis")
    expect(config.cache?.semantic).toMatchObject({ threshold: 0.9, embedding: { _tag: "Builtin" }, enabledFor: { all: true } })
  })

  it("reads cache.semantic, refusing a threshold outside (0, 1] and unknown keys by name", () => {
    const config = parseRouterConfig({ model_list: [remote], cache: { semantic: { enabled_for: { models: ["remote"], tags: ["faq"] } } } })
    expect(config.cache?.semantic?.threshold).toBe(0.85)
    expect([...config.cache!.semantic!.enabledFor.groups]).toEqual(["remote"])
    expect(config.cache?.semantic?.enabledFor.all).toBe(false)
    expect(() => parseRouterConfig({ cache: { semantic: { similarity_threshold: 1.5 } } })).toThrow(/cache\.semantic\.similarity_threshold/)
    expect(() => parseRouterConfig({ cache: { semantic: { treshold: 0.8 } } })).toThrow(/cache\.semantic\.treshold: unknown key/)
  })

  it("turns on by metadata first (key over team), then by group, team, key or tag", () => {
    const optIn = { all: false, groups: new Set(["g"]), teams: new Set(["t"]), keys: new Set(["k"]), tags: new Set(["faq"]) }
    const who = (o: Partial<Parameters<typeof semanticOptedIn>[2]> = {}) => ({ keyId: "x", teamId: null, tags: [], keyMetadata: undefined, teamMetadata: undefined, ...o })
    expect(semanticOptedIn(optIn, "g", who())).toBe(true)
    expect(semanticOptedIn(optIn, "h", who())).toBe(false)
    expect(semanticOptedIn(optIn, "h", who({ teamId: "t" }))).toBe(true)
    expect(semanticOptedIn(optIn, "h", who({ keyId: "k" }))).toBe(true)
    expect(semanticOptedIn(optIn, "h", who({ tags: ["faq"] }))).toBe(true)
    expect(semanticOptedIn(optIn, "g", who({ teamMetadata: { semantic_cache: false } }))).toBe(false)
    expect(semanticOptedIn(optIn, "h", who({ teamMetadata: { semantic_cache: false }, keyMetadata: { semantic_cache: true } }))).toBe(true)
  })

  it("partitions by everything but the last user turn", () => {
    const s = defaultCacheSettings
    const scope = { keyId: "k", teamId: null }
    const chat = (system: string, q: string) => ({ messages: [{ role: "system", content: system }, { role: "user", content: q }], temperature: 0 })
    const a = semanticQuery(s, "chat", "g", scope, chat("Be brief.", "Hi  there"))!
    expect(a.query).toBe("Hi there")
    expect(semanticQuery(s, "chat", "g", scope, chat("Be brief.", "Hello"))!.partition).toBe(a.partition)
    expect(semanticQuery(s, "chat", "g", scope, chat("Be long.", "Hello"))!.partition).not.toBe(a.partition)
    expect(semanticQuery(s, "chat", "g", { keyId: "k2", teamId: null }, chat("Be brief.", "Hello"))!.partition).not.toBe(a.partition)
    expect(semanticQuery(s, "chat", "g", scope, { messages: [{ role: "assistant", content: "x" }] })).toBeUndefined()
  })

  it("selects the same keys by regular expression (SQL) as by keyMatches (in process)", () => {
    const keys = ["k1", "k.2", "k*3"].flatMap((keyId) => ["t1", "t+2"].flatMap((teamId) => ["g", "g(x)"].map((g) => cacheKey(defaultCacheSettings, "chat", g, { keyId, teamId }, { q: keyId + teamId }))))
    for (const selector of [{}, { keyId: "k.2" }, { teamId: "t+2" }, { group: "g(x)" }, { keyId: "k*3", group: "g" }]) {
      const re = new RegExp(keyRegex(defaultCacheSettings.namespace, selector))
      expect(keys.filter((k) => re.test(k))).toEqual(keys.filter((k) => keyMatches(k, selector)))
    }
    expect(new RegExp(keyRegex("other", {})).test(keys[0])).toBe(false)
  })
})
