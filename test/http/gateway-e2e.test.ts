import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MODEL, startTestServer, type TestServer } from "./support/server.ts"

// The gateway in front of the real model routes: keys from the admin API, model allow-lists, rate limits
// with OpenAI's headers, and the token reservation settled at the end of a stream.
const MASTER = "sk-master-e2e-test"
let server: TestServer
const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${server.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json", ...init.headers } })
const createKey = async (fields: Record<string, unknown>) => {
  const r = await admin("/admin/keys", { method: "POST", body: JSON.stringify(fields) })
  expect(r.status).toBe(201)
  return (await r.json()) as { id: string; key: string }
}
const clientFor = (key: string) => new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: key, maxRetries: 0 })

beforeAll(async () => {
  server = await startTestServer({}, { masterKey: MASTER })
})
afterAll(() => server.close())

describe("gateway on the model routes", () => {
  it("a key from the admin API works with the OpenAI SDK, with x-ratelimit headers; no key is a 401", async () => {
    const { key } = await createKey({ name: "e2e", rpm_limit: 100 })
    const { data, response } = await clientFor(key).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "In the beginning" }], max_tokens: 4 }).withResponse()
    expect(data.choices[0].message.content).toBeTypeOf("string")
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("100")
    expect(Number(response.headers.get("x-ratelimit-remaining-requests"))).toBe(99)
    expect(response.headers.get("x-request-id")).toBeTruthy()
    const anonymous = await fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] }) })
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key")
  })

  it("a model outside the key's allow-list is a 403", async () => {
    const { key } = await createKey({ name: "other-model-only", models: ["some-other-model"] })
    const error = await clientFor(key).completions.create({ model: MODEL, prompt: "And God said", max_tokens: 2 }).catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError)
  })

  it("over the key's rpm: 429 rate_limit_exceeded with Retry-After, for streams too", async () => {
    const { key } = await createKey({ name: "tight", rpm_limit: 2 })
    const client = clientFor(key)
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Amen" }], max_tokens: 2, stream: true })
      for await (const _ of stream) { /* drain */ }
    }
    const raw = await fetch(`${server.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Amen" }], max_tokens: 2, stream: true })
    })
    expect(raw.status).toBe(429)
    expect(Number(raw.headers.get("retry-after"))).toBeGreaterThan(0)
    expect(raw.headers.get("x-ratelimit-remaining-requests")).toBe("0")
    expect(((await raw.json()) as { error: unknown }).error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" })
  })

  it("the tpm reservation is reconciled with the tokens really used", async () => {
    const { key } = await createKey({ name: "tokens", tpm_limit: 100_000 })
    const { data, response } = await clientFor(key).completions.create({ model: MODEL, prompt: "And the LORD said unto Moses,", max_tokens: 5 }).withResponse()
    expect(Number(response.headers.get("x-ratelimit-limit-tokens"))).toBe(100_000)
    // The next request sees only the tokens actually used, not the reservation (prompt + max_tokens).
    const next = await clientFor(key).models.list().withResponse()
    expect(next.response.status).toBe(200)
    const after = await clientFor(key).completions.create({ model: MODEL, prompt: "x", max_tokens: 1 }).withResponse()
    const remaining = Number(after.response.headers.get("x-ratelimit-remaining-tokens"))
    // Remaining is counted with this request's own reservation (1 prompt token + 1) in flight.
    expect(remaining).toBe(100_000 - data.usage!.total_tokens - 2)
  })

  it("a revoked key stops working", async () => {
    const { id, key } = await createKey({ name: "revoke-me" })
    const client = clientFor(key)
    await client.models.list()
    expect((await admin(`/admin/keys/${id}`, { method: "DELETE" })).status).toBe(200)
    const error = await client.models.list().catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
  })
})
