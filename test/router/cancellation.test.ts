import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { chat, openAiDeployment, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/**
 * A client that goes away aborts the upstream request at once (what LiteLLM gets wrong): measured at
 * the fake upstream, which records when its request's socket closed, through the real server.
 */
const LIMIT_MS = 100

describe("cancellation reaches the upstream", () => {
  let upstream: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "hang" }])
    server = await startRouterServer({ model_list: [openAiDeployment("g", "u", upstream.url)] })
  })
  afterAll(async () => {
    await server.close()
    await upstream.close()
  })

  /** Starts the request, waits until `ready` says the exchange is where the case wants it, aborts, measures. */
  const measure = async (body: unknown, ready: (response: Promise<Response>) => Promise<void>) => {
    const index = upstream.requests.length
    const controller = new AbortController()
    const response = fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: controller.signal })
    response.catch(() => undefined)
    while (upstream.requests.length <= index) await new Promise((r) => setTimeout(r, 2))
    await ready(response)
    const abortedAt = performance.now()
    controller.abort()
    const closedAt = await Promise.race([upstream.closed(index), new Promise<number>((r) => setTimeout(() => r(Infinity), 2000))])
    return closedAt - abortedAt
  }

  const settle = () => new Promise<void>((r) => setTimeout(r, 30))

  it("non-streaming, before the first token (upstream still thinking)", async () => {
    upstream.script = [{ type: "hang" }]
    expect(await measure(chat("g"), settle)).toBeLessThan(LIMIT_MS)
  })

  it("non-streaming, mid-response (upstream has sent part of the body)", async () => {
    // 200, headers and a first part of the body at once, the rest 5 s later: the router is reading the body
    upstream.script = [{ type: "stream", chunks: ["a", "b"], delayMs: 5_000 }]
    expect(await measure(chat("g"), settle)).toBeLessThan(LIMIT_MS)
  })

  it("streaming, before the first token", async () => {
    upstream.script = [{ type: "stream", firstDelayMs: 5_000 }]
    expect(await measure(chat("g", { stream: true }), settle)).toBeLessThan(LIMIT_MS)
  })

  it("streaming, mid-stream (after chunks have reached the client)", async () => {
    upstream.script = [{ type: "stream", chunks: ["a", "b", "c"], delayMs: 5_000 }]
    const elapsed = await measure(chat("g", { stream: true }), async (response) => {
      const reader = (await response).body!.getReader()
      const { value } = await reader.read()
      expect(new TextDecoder().decode(value)).toContain("data: ")
    })
    expect(elapsed).toBeLessThan(LIMIT_MS)
  })
})
