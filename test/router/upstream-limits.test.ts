import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MAX_UPSTREAM_BODY_CHARS, MAX_UPSTREAM_EVENT_CHARS } from "../../src/router/providers/upstream-http.ts"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { chat, openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

const MiB = "x".repeat(1024 * 1024)

/** A broken upstream that never ends its body or its event must not grow Inferline's memory without bound. */
describe("upstream size limits", () => {
  let u: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    u = await startFakeUpstream([{ type: "json" }])
    server = await startRouterServer({ model_list: [openAiDeployment("g", "u", u.url)], router_settings: { num_retries: 0 } })
  })
  afterAll(async () => {
    await server.close()
    await u.close()
  })

  it("a non-streaming response over the limit is a 502, and its connection is closed", async () => {
    u.requests.length = 0
    // Twice the limit: when Inferline stops reading, the upstream must still have data to send, or its
    // response has finished and the socket closing afterwards is not an abort (see fake-upstream.ts).
    u.script = [{ type: "raw", contentType: "application/json", body: Array.from({ length: (2 * MAX_UPSTREAM_BODY_CHARS) / MiB.length }, () => MiB) }]
    const r = await postChat(server.baseUrl, chat("g"))
    expect(r.status).toBe(502)
    expect(r.json.error.message).toMatch(/larger than 64 MiB/)
    expect(await u.closed(0)).toBeGreaterThan(0)
  })

  it("a stream event that never ends is a 502 before the first chunk", async () => {
    u.requests.length = 0
    // Far more than the event limit, and more than the sockets between the two can buffer (as above).
    u.script = [{ type: "raw", body: ["data: ", ...Array.from({ length: (8 * MAX_UPSTREAM_EVENT_CHARS) / MiB.length }, () => MiB)] }]
    const r = await postChat(server.baseUrl, chat("g", { stream: true }))
    expect(r.status).toBe(502)
    expect(r.json.error.message).toMatch(/larger than 8 MiB/)
    expect(await u.closed(0)).toBeGreaterThan(0)
  })

  it("streams of many ordinary events pass, however long the stream", async () => {
    const event = `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: "y".repeat(1000) }, finish_reason: null }] })}\n\n`
    u.script = [{ type: "raw", body: [...Array.from({ length: 10_000 }, () => event), "data: [DONE]\n\n"] }] // ~10 MB in all
    const r = await postChat(server.baseUrl, chat("g", { stream: true }))
    expect(r.status).toBe(200)
    expect(r.text.length).toBeGreaterThan(MAX_UPSTREAM_EVENT_CHARS)
    expect(r.text.trimEnd().endsWith("data: [DONE]")).toBe(true)
  })
})
