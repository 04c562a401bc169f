import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { postJson } from "../http/support/server.ts"
import { chat, MODEL, openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/**
 * Retries, cooldown and every fallback kind, through the real server with fake upstreams. One server
 * per describe (its config), fresh scripts per test.
 */
const sseData = (text: string) => text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6))

describe("retries and fallbacks", () => {
  let a: FakeUpstream, b: FakeUpstream, c: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[a, b, c] = await Promise.all([startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json" }])])
    server = await startRouterServer({
      model_list: [
        openAiDeployment("main", "a", a.url, { weight: 1000 }),
        openAiDeployment("main", "b", b.url, { weight: 1 }),
        openAiDeployment("backup", "c", c.url),
        openAiDeployment("small", "s", a.url, { max_input_tokens: 5 })
      ],
      router_settings: { routing_strategy: "least-busy", num_retries: 2, retry_after: 0.04, allowed_fails: 100 },
      litellm_settings: {
        fallbacks: [{ main: ["backup"] }],
        context_window_fallbacks: [{ small: ["backup"] }, { main: ["backup"] }],
        content_policy_fallbacks: [{ main: [MODEL] }]
      }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([a.close(), b.close(), c.close()])
  })
  afterEach(() => {
    for (const u of [a, b, c]) u.reset()
  })

  it("retries a 500 with backoff, untried deployments first, and says who served and in how many attempts", async () => {
    a.script = [{ type: "status", status: 500 }, { type: "json", content: "from a" }]
    b.script = [{ type: "status", status: 500 }]
    const r = await postChat(server.baseUrl, chat("main"))
    expect(r.status).toBe(200)
    expect(r.json.choices[0].message.content).toBe("from a")
    expect(r.headers.get("x-inferline-deployment")).toBe("a")
    expect(r.headers.get("x-inferline-attempts")).toBe("3")
    // least-busy, ties broken by the weighted shuffle (a weighs 1000x): a, then the untried b, then a
    const order = [...a.requests.map((q) => ["a", q.receivedAt] as const), ...b.requests.map((q) => ["b", q.receivedAt] as const)].sort((x, y) => x[1] - y[1])
    expect(order.map(([id]) => id)).toEqual(["a", "b", "a"])
    const times = order.map(([, t]) => t)
    // backoff: 40 ms doubling, equal jitter: at least 20 ms, then at least 40 ms
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(19)
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(39)
    // the upstream got the deployment's model name and key
    expect(b.requests[0].body.model).toBe("b-model")
    expect(b.requests[0].body.messages).toEqual([{ role: "user", content: "hi" }])
    expect(b.requests[0].headers.authorization).toBe("Bearer sk-upstream")
  })

  it("429, dropped connections and 5xx are retried; a 4xx caused by the request is not", async () => {
    a.script = [{ type: "status", status: 429, headers: { "retry-after-ms": "10" } }]
    b.script = [{ type: "drop" }]
    c.script = [{ type: "json", content: "backup" }]
    const r = await postChat(server.baseUrl, chat("main"))
    expect(r.json.choices[0].message.content).toBe("backup")
    expect(r.headers.get("x-inferline-deployment")).toBe("c")
    expect(a.requests.length + b.requests.length).toBe(3)
    expect(r.headers.get("x-inferline-attempts")).toBe("4")

    for (const u of [a, b, c]) u.requests.length = 0
    a.script = [{ type: "status", status: 400, body: { error: { message: "bad temperature", type: "invalid_request_error", param: "temperature", code: null } } }]
    b.script = a.script
    const bad = await postChat(server.baseUrl, chat("main"))
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toBe("bad temperature")
    expect(a.requests.length + b.requests.length + c.requests.length).toBe(1)
  })

  it("a body no provider could take (messages or prompt missing or malformed) is a 400 before any upstream is called", async () => {
    const cases: Array<[string, unknown, string]> = [
      ["/v1/chat/completions", { model: "main" }, "messages"],
      ["/v1/chat/completions", { model: "main", messages: "hi" }, "messages"],
      ["/v1/chat/completions", { model: "main", messages: [] }, "messages"],
      ["/v1/chat/completions", { model: "main", messages: [{ role: "user", content: "hi" }, { content: "no role" }] }, "messages[1]"],
      ["/v1/chat/completions", { model: "main", messages: [null] }, "messages[0]"],
      ["/v1/completions", { model: "main" }, "prompt"],
      ["/v1/completions", { model: "main", prompt: [] }, "prompt"],
      ["/v1/completions", { model: "main", prompt: [1, "a"] }, "prompt"],
      ["/v1/completions", { model: "main", prompt: { text: "hi" } }, "prompt"]
    ]
    for (const [path, body, param] of cases) {
      for (const stream of [false, true]) {
        const r = await postJson(`${server.baseUrl}${path}`, { ...(body as object), stream }, false)
        expect(r.status, JSON.stringify(body)).toBe(400)
        expect(r.json.error).toMatchObject({ type: "invalid_request_error", param })
      }
    }
    expect(a.requests.length + b.requests.length + c.requests.length).toBe(0)
    // The shapes OpenAI accepts still go through.
    for (const prompt of ["hi", ["hi", "there"], [1, 2, 3], [[1, 2], [3]]]) {
      a.script = [{ type: "json" }]
      expect((await postJson(`${server.baseUrl}/v1/completions`, { model: "main", prompt }, false)).status).toBe(200)
    }
  })

  it("general fallback after the group's retries; the last error when every group fails", async () => {
    a.script = [{ type: "status", status: 503 }]
    b.script = a.script
    c.script = [{ type: "status", status: 502 }]
    const r = await postChat(server.baseUrl, chat("main"))
    expect(r.status).toBe(502)
    expect(r.json.error.type).toBe("server_error")
    expect(r.headers.get("x-inferline-attempts")).toBe("6")
    expect(a.requests.length + b.requests.length).toBe(3)
    expect(c.requests.length).toBe(3)
  })

  it("context-window fallback: checked before calling (max_input_tokens), and on the upstream's context error", async () => {
    c.script = [{ type: "json", content: "long ok" }]
    const long = { model: "small", messages: [{ role: "user", content: "a long prompt that is well over five tokens" }] }
    const r = await postChat(server.baseUrl, long)
    expect(r.json.choices[0].message.content).toBe("long ok")
    expect(r.headers.get("x-inferline-attempts")).toBe("1") // "small" was never called
    expect(a.requests).toHaveLength(0)

    a.script = [{ type: "status", status: 400, body: { error: { message: "This model's maximum context length is 8 tokens", type: "invalid_request_error", code: "context_length_exceeded" } } }]
    b.script = a.script
    const r2 = await postChat(server.baseUrl, chat("main"))
    expect(r2.json.choices[0].message.content).toBe("long ok")
    expect(r2.headers.get("x-inferline-attempts")).toBe("2") // not retried within main
  })

  it("content-policy fallback (here to the served local model)", async () => {
    a.script = [{ type: "status", status: 400, body: { error: { message: "flagged by our content policy", type: "invalid_request_error", code: "content_policy_violation" } } }]
    b.script = a.script
    const r = await postChat(server.baseUrl, chat("main", { max_tokens: 3 }))
    expect(r.status).toBe(200)
    expect(r.headers.get("x-inferline-deployment")).toBe("local")
    expect(r.json.model).toBe(MODEL)
    expect(r.json.usage.completion_tokens).toBeGreaterThan(0)
  })

  it("streaming: falls back transparently before the first byte; after it, ends with an error event", async () => {
    a.script = [{ type: "status", status: 500 }]
    b.script = [{ type: "status", status: 500 }]
    c.script = [{ type: "stream", chunks: ["x", "y"] }]
    const r = await postChat(server.baseUrl, chat("main", { stream: true }))
    expect(r.status).toBe(200)
    expect(r.headers.get("x-inferline-deployment")).toBe("c")
    const data = sseData(r.text)
    expect(data.at(-1)).toBe("[DONE]")
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d))
    expect(chunks.map((c) => c.choices[0]?.delta?.content).join("")).toBe("xy")
    // the router asked for usage (metering) but the client did not: no usage-only chunk
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true)
    expect(c.requests[0].body.stream_options).toEqual({ include_usage: true })

    // mid-stream failure: the upstream ends the connection inside an event, after a first chunk
    for (const u of [a, b, c]) u.requests.length = 0
    a.script = [{ type: "raw", body: [`data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "par" } }] })}\n\n`, "data: {\"trunc"], drop: true }]
    b.script = a.script
    const broken = await postChat(server.baseUrl, chat("main", { stream: true }))
    expect(broken.status).toBe(200)
    const events = sseData(broken.text)
    expect(events).toHaveLength(3)
    expect(JSON.parse(events[0]).choices[0].delta.content).toBe("par")
    expect(JSON.parse(events[1]).error).toMatchObject({ type: "server_error" })
    expect(events[2]).toBe("[DONE]")
    expect(c.requests).toHaveLength(0) // no fallback after the first byte
  })
})

describe("cooldown", () => {
  let a: FakeUpstream, b: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[a, b] = await Promise.all([startFakeUpstream([{ type: "json", content: "a" }]), startFakeUpstream([{ type: "json", content: "b" }])])
    server = await startRouterServer({
      model_list: [openAiDeployment("g", "a", a.url, { weight: 1_000_000 }), openAiDeployment("g", "b", b.url, { weight: 1 })],
      // 1.5 s: long enough that the request made during it comes in time on a loaded machine.
      router_settings: { num_retries: 1, retry_after: 0, allowed_fails: 1, cooldown_time: 1.5 }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([a.close(), b.close()])
  })

  it("a deployment enters cooldown after more than allowed_fails failures, is skipped, then probed and used again", async () => {
    a.script = [{ type: "status", status: 500 }, { type: "status", status: 500 }, { type: "json", content: "a" }]
    // 1st request: a fails (1 failure, allowed), retry on b
    expect((await postChat(server.baseUrl, chat("g"))).headers.get("x-inferline-deployment")).toBe("b")
    // 2nd: a fails again (2 > 1: cooldown), retry on b
    expect((await postChat(server.baseUrl, chat("g"))).headers.get("x-inferline-deployment")).toBe("b")
    expect(server.router.deployment("a")!.breaker.state(Date.now())).toBe("open")
    // in cooldown: a is not even tried, though it has nearly all the weight
    const during = await postChat(server.baseUrl, chat("g"))
    expect(during.headers.get("x-inferline-deployment")).toBe("b")
    expect(during.headers.get("x-inferline-attempts")).toBe("1")
    expect(a.requests).toHaveLength(2)
    await new Promise((r) => setTimeout(r, 1520))
    // half-open: one probe goes to a; it succeeds and closes the breaker
    const after = await postChat(server.baseUrl, chat("g"))
    expect(after.headers.get("x-inferline-deployment")).toBe("a")
    expect(server.router.deployment("a")!.breaker.state(Date.now())).toBe("closed")
  })
})

describe("per-deployment response timeout (non-streaming, enforced on the upstream request itself)", () => {
  let slow: FakeUpstream, quick: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[slow, quick] = await Promise.all([startFakeUpstream([{ type: "hang" }]), startFakeUpstream([{ type: "json", content: "quick" }])])
    server = await startRouterServer({
      model_list: [
        openAiDeployment("g", "slow", slow.url, { timeout: 0.3, weight: 1000 }),
        openAiDeployment("g", "quick", quick.url, { weight: 1 }),
        openAiDeployment("alone", "slow2", slow.url, { timeout: 0.2 })
      ],
      router_settings: { routing_strategy: "simple-shuffle", num_retries: 1, retry_after: 0, allowed_fails: 100 }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([slow.close(), quick.close()])
  })

  it("a deployment silent past its timeout is abandoned (socket closed) and the next one serves", async () => {
    const started = performance.now()
    const r = await postChat(server.baseUrl, chat("g"))
    const elapsed = performance.now() - started
    expect(r.status).toBe(200)
    expect(r.json.choices[0].message.content).toBe("quick")
    expect(r.headers.get("x-inferline-deployment")).toBe("quick")
    expect(r.headers.get("x-inferline-attempts")).toBe("2")
    expect(elapsed).toBeGreaterThanOrEqual(290)
    // The abandoned request's socket was closed when its deadline passed, not left hanging. The deadline
    // runs from when Inferline sent the request: after `started`, before the upstream's `receivedAt`
    // (on a busy machine up to ~15 ms before it), so "not early" is measured from `started` (299: the
    // event loop's clock has millisecond steps) and "not late" from `receivedAt`.
    const closedAt = await slow.closed(0)
    expect(closedAt - started).toBeGreaterThanOrEqual(299)
    expect(closedAt - slow.requests[0].receivedAt).toBeLessThan(290 + 200)
  })

  it("with nowhere else to go, the client gets a 504 timeout error", async () => {
    slow.requests.length = 0
    const r = await postChat(server.baseUrl, chat("alone"))
    expect(r.status).toBe(504)
    expect(r.json.error.code).toBe("timeout")
    expect(r.json.error.message).toContain("slow2 timed out")
    expect(slow.requests.length).toBe(2) // the first try and one retry
    expect(r.headers.get("x-inferline-attempts")).toBe("2")
  })
})
