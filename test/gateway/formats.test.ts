import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { displayPrefix, generateApiKey, hashApiKey, looksLikeApiKey } from "../../src/gateway/api-key.ts"
import { formatResetDuration, rateLimitHeaders } from "../../src/gateway/limits/rate-limit-headers.ts"
import { masterKeyMatcher } from "../../src/gateway/master-key.ts"
import { clientRequestIdOf, newRequestId } from "../../src/gateway/request-id.ts"

describe("API keys", () => {
  it("are sk-inf- and 43 base62 characters, distinct, hashed with SHA-256", () => {
    const keys = Array.from({ length: 200 }, generateApiKey)
    expect(new Set(keys).size).toBe(200)
    for (const k of keys) {
      expect(k).toMatch(/^sk-inf-[0-9A-Za-z]{43}$/)
      expect(looksLikeApiKey(k)).toBe(true)
    }
    expect(hashApiKey(keys[0])).toBe(createHash("sha256").update(keys[0]).digest("hex"))
    expect(displayPrefix(keys[0])).toBe(keys[0].slice(0, 12))
    // Every base62 character shows up (no bias towards a subset).
    expect(new Set(keys.join("").slice(0, 5000).replace(/^sk-inf-/, "")).size).toBeGreaterThan(60)
    expect(looksLikeApiKey("sk-inf-short")).toBe(false)
    expect(looksLikeApiKey(`sk-proj-${"a".repeat(43)}`)).toBe(false)
  })

  it("the master key matches exactly", () => {
    const isMaster = masterKeyMatcher("master")
    expect(isMaster(hashApiKey("master"))).toBe(true)
    for (const t of ["maste", "master ", "Master", "", "master\u0000"]) expect(isMaster(hashApiKey(t))).toBe(false)
    expect(isMaster("not hex")).toBe(false)
  })
})

describe("rate-limit headers", () => {
  it("write durations like OpenAI (Go's format)", () => {
    expect(formatResetDuration(0)).toBe("0ms")
    expect(formatResetDuration(12.2)).toBe("13ms")
    expect(formatResetDuration(1500)).toBe("1.5s")
    expect(formatResetDuration(20_000)).toBe("20s")
    expect(formatResetDuration(60_000)).toBe("1m0s")
    expect(formatResetDuration(361_250)).toBe("6m1.25s")
  })

  it("report the most constrained of key and team on each axis", () => {
    const subjects = [
      { id: "key", rpm: 10, tpm: null, parallel: null },
      { id: "team", rpm: 100, tpm: 1000, parallel: 2 }
    ]
    const usage = [
      { requests: 3, tokens: 30, resetMs: 500, parallel: 0 },
      { requests: 95, tokens: 300, resetMs: 59_000, parallel: 1 }
    ]
    expect(rateLimitHeaders(subjects, usage)).toEqual({
      "x-ratelimit-limit-requests": "100",
      "x-ratelimit-remaining-requests": "5",
      "x-ratelimit-reset-requests": "59s",
      "x-ratelimit-limit-tokens": "1000",
      "x-ratelimit-remaining-tokens": "700",
      "x-ratelimit-reset-tokens": "59s"
    })
    expect(rateLimitHeaders([{ id: "k", rpm: null, tpm: null, parallel: 1 }], [usage[0]])).toEqual({})
  })
})

describe("request ids", () => {
  it("keeps sane client ids (as correlation ids) and drops the rest", () => {
    expect(clientRequestIdOf("abc-1.2_3")).toBe("abc-1.2_3")
    expect(clientRequestIdOf("x".repeat(128))).toBe("x".repeat(128))
    for (const bad of [undefined, "", "x".repeat(129), "a b", "a\r\nb", "ü"]) expect(clientRequestIdOf(bad)).toBeUndefined()
    expect(newRequestId()).toMatch(/^req_[0-9a-f]{32}$/)
  })

  it("makes ids that sort in the order they were made (across milliseconds) and do not repeat", async () => {
    const ids: Array<string> = []
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 200; j++) ids.push(newRequestId())
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    expect(new Set(ids).size).toBe(ids.length)
    const firstOfEachMs = ids.filter((id, i) => i === 0 || id.slice(0, 16) !== ids[i - 1].slice(0, 16))
    expect(firstOfEachMs.length).toBeGreaterThanOrEqual(5)
    expect([...firstOfEachMs].sort()).toEqual(firstOfEachMs)
    expect(Number.parseInt(ids[0].slice(4, 16), 16)).toBeLessThanOrEqual(Date.now())
    expect(Number.parseInt(ids[0].slice(4, 16), 16)).toBeGreaterThan(Date.now() - 60_000)
  })
})
