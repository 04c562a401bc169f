import { describe, expect, it } from "vitest"
import { extractCredential } from "../../src/gateway/credentials.ts"
import { fromGatewayError } from "../../src/http/error-mapping.ts"

const token = (headers: Record<string, string>) => {
  const r = extractCredential(headers)
  return "token" in r ? r.token : `${fromGatewayError(r).status}:${r.message}`
}

describe("extractCredential", () => {
  it("reads Bearer and x-api-key, and nothing else", () => {
    expect(token({ authorization: "Bearer abc" })).toBe("abc")
    expect(token({ authorization: "bearer   abc" })).toBe("abc")
    expect(token({ "x-api-key": "abc" })).toBe("abc")
    expect(token({ authorization: "Bearer abc", "x-api-key": "abc" })).toBe("abc")
    expect(token({})).toMatch(/^401:You didn't provide an API key/)
    expect(token({ authorization: "Basic YWJjOmRlZg==" })).toMatch(/^401:.*Bearer scheme/)
    expect(token({ authorization: "Bearer" })).toMatch(/^401:/)
    expect(token({ authorization: "Bearer " })).toMatch(/^401:You didn't/)
    expect(token({ authorization: "Token abc" })).toMatch(/^401:/)
    expect(token({ authorization: "abc" })).toMatch(/^401:/)
  })

  it("refuses ambiguity and strange bytes", () => {
    expect(token({ authorization: "Bearer abc", "x-api-key": "abd" })).toMatch(/^401:.*different keys/)
    expect(token({ authorization: "Bearer a b" })).toMatch(/^401:.*invalid characters/)
    expect(token({ authorization: "Bearer a\tb" })).toMatch(/^401:/)
    expect(token({ "x-api-key": "a, b" })).toMatch(/^401:/) // how Node joins a repeated x-api-key
    expect(token({ authorization: "Bearer é" })).toMatch(/^401:/)
    expect(token({ authorization: `Bearer ${"a".repeat(600)}` })).toMatch(/^401:.*too long/)
  })

  it("never echoes the presented key", () => {
    const cases: Array<Record<string, string>> = [{ authorization: "Bearer sk-inf-secret value" }, { authorization: "Bearer sk-inf-secret", "x-api-key": "sk-inf-other" }]
    for (const headers of cases) {
      expect(token(headers)).not.toContain("secret")
    }
  })
})
