import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { getJson, metricValue, MODEL, scrapeMetrics, startTestServer, type TestServer } from "./support/server.ts"

/** Polls `check` until it returns true (or the deadline passes, then returns false). */
const eventually = async (check: () => Promise<boolean>, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}

const abortedCount = async (baseUrl: string) =>
  metricValue(await scrapeMetrics(baseUrl), "inferline_request_success_total", { finished_reason: "abort" }) ?? 0

const kvUsage = async (baseUrl: string) => metricValue(await scrapeMetrics(baseUrl), "inferline_kv_cache_usage_perc")

describe("streaming, cancellation and the WebSocket", () => {
  let server: TestServer
  /** A request that would run for a long time (to the end of the context) unless cancelled. */
  let longCompletion: { model: string; prompt: string; max_tokens: number; ignore_eos: true }
  beforeAll(async () => {
    server = await startTestServer()
    const maxModelLen: number = (await getJson(`${server.baseUrl}/v1/models`)).data[0].max_model_len
    longCompletion = { model: MODEL, prompt: "And God said", max_tokens: maxModelLen - 16, ignore_eos: true }
  })
  afterAll(() => server?.close())

  it("SSE bytes are exactly OpenAI's: data: {json}\\n\\n events, role first, usage, [DONE] last", async () => {
    const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "In the beginning" }], max_tokens: 5, n: 2, stream: true, stream_options: { include_usage: true } })
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    expect(response.headers.get("content-length")).toBeNull()
    const body = await response.text()
    expect(body.endsWith("data: [DONE]\n\n")).toBe(true)
    const events = body.split("\n\n")
    expect(events.pop()).toBe("") // the body ends with an event's blank line
    for (const e of events) expect(e).toMatch(/^data: [^\n]+$/) // one data line per event, nothing else
    expect(events[events.length - 1]).toBe("data: [DONE]")
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)))
    // Each choice starts with the assistant role and empty content.
    expect(chunks.slice(0, 2).map((c) => c.choices[0])).toEqual([
      { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null },
      { index: 1, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }
    ])
    for (const c of chunks) {
      expect(c.object).toBe("chat.completion.chunk")
      expect(c.id).toBe(chunks[0].id)
    }
    const usage = chunks[chunks.length - 1]
    expect(usage.choices).toEqual([])
    expect(usage.usage.completion_tokens).toBeGreaterThan(0)
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true)
    const finished = chunks.filter((c) => c.choices[0]?.finish_reason != null).map((c) => c.choices[0].index).sort()
    expect(finished).toEqual([0, 1])
  })

  it("a client disconnecting mid-stream aborts the request and frees its KV blocks", async () => {
    const idle = await kvUsage(server.baseUrl)
    const abortedBefore = await abortedCount(server.baseUrl)
    const controller = new AbortController()
    const response = await fetch(`${server.baseUrl}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...longCompletion, stream: true }),
      signal: controller.signal
    })
    const reader = response.body!.getReader()
    let received = 0
    while (received < 3) {
      const { value } = await reader.read()
      received += new TextDecoder().decode(value).split("data: ").length - 1
    }
    // Mid-generation the sequence holds KV blocks.
    expect((await kvUsage(server.baseUrl))!).toBeGreaterThan(idle!)
    controller.abort()
    expect(await eventually(async () => (await kvUsage(server.baseUrl)) === idle)).toBe(true)
    expect(await eventually(async () => (await abortedCount(server.baseUrl)) === abortedBefore + 1)).toBe(true)
    expect(metricValue(await scrapeMetrics(server.baseUrl), "inferline_num_requests_running")).toBe(0)
  })

  it("a non-streaming client going away aborts its request too", async () => {
    const abortedBefore = await abortedCount(server.baseUrl)
    const controller = new AbortController()
    const pending = fetch(`${server.baseUrl}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(longCompletion),
      signal: controller.signal
    }).catch((e) => e)
    expect(await eventually(async () => (metricValue(await scrapeMetrics(server.baseUrl), "inferline_num_requests_running") ?? 0) > 0)).toBe(true)
    controller.abort()
    await pending
    expect(await eventually(async () => (await abortedCount(server.baseUrl)) === abortedBefore + 1)).toBe(true)
    expect(await eventually(async () => (await kvUsage(server.baseUrl)) === 0)).toBe(true)
  })

  describe("WebSocket /v1/ws", () => {
    /** Opens a socket and collects its messages; `next()` waits for the next one. */
    const connect = async () => {
      const ws = new WebSocket(`${server.baseUrl.replace("http", "ws")}/v1/ws`)
      const inbox: Array<any> = []
      const waiters: Array<(m: any) => void> = []
      ws.onmessage = (e) => {
        const message = JSON.parse(String(e.data))
        const waiter = waiters.shift()
        if (waiter) waiter(message)
        else inbox.push(message)
      }
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve()
        ws.onerror = () => reject(new Error("WebSocket failed to open"))
      })
      const next = () => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise<any>((resolve) => waiters.push(resolve)))
      const until = async (done: (m: any) => boolean) => {
        const seen: Array<any> = []
        for (;;) {
          const m = await next()
          seen.push(m)
          if (done(m)) return seen
        }
      }
      return { ws, next, until, send: (m: unknown) => ws.send(typeof m === "string" ? m : JSON.stringify(m)) }
    }

    it("streams chat and completion chunks, then done", async () => {
      const c = await connect()
      c.send({ type: "chat.completions", model: MODEL, messages: [{ role: "user", content: "In the beginning" }], max_tokens: 4, stream_options: { include_usage: true } })
      const chat = await c.until((m) => m.type === "done" || m.type === "error")
      expect(chat[chat.length - 1]).toEqual({ type: "done" })
      expect(chat[0].choices[0].delta).toEqual({ role: "assistant", content: "" })
      expect(chat[chat.length - 2].usage.completion_tokens).toBeGreaterThan(0)

      c.send({ type: "completions", model: MODEL, prompt: "And God said", max_tokens: 3 })
      const completion = await c.until((m) => m.type === "done" || m.type === "error")
      expect(completion[completion.length - 1]).toEqual({ type: "done" })
      expect(completion[0].object).toBe("text_completion")
      c.ws.close()
    })

    it("cancel aborts the running request; errors arrive as error messages", async () => {
      const c = await connect()
      const abortedBefore = await abortedCount(server.baseUrl)
      c.send({ type: "completions", ...longCompletion })
      const first = await c.next()
      expect(first.object).toBe("text_completion")
      // A second request while one runs is refused; the running one goes on.
      c.send({ type: "completions", prompt: "x", max_tokens: 1 })
      const refused = await c.until((m) => m.type === "error")
      expect(refused[refused.length - 1].error.code).toBe("request_in_progress")
      c.send({ type: "cancel" })
      const rest = await c.until((m) => m.type === "done")
      expect(rest[rest.length - 1]).toEqual({ type: "done", cancelled: true })
      expect(await eventually(async () => (await abortedCount(server.baseUrl)) === abortedBefore + 1)).toBe(true)
      expect(await eventually(async () => (await kvUsage(server.baseUrl)) === 0)).toBe(true)

      c.send("{not json")
      expect((await c.next()).error.code).toBe("invalid_json")
      c.send({ type: "chat.completions", model: MODEL, messages: [{ role: "user", content: "hi" }], temperature: "hot" })
      const invalid = await c.next()
      expect(invalid.type).toBe("error")
      expect(invalid.error.param).toBe("temperature")
      c.send({ type: "chat.completions", model: "nope", messages: [{ role: "user", content: "hi" }] })
      expect((await c.next()).error.code).toBe("model_not_found")
      c.ws.close()
    })

    it("closing the socket aborts the running request", async () => {
      const c = await connect()
      const abortedBefore = await abortedCount(server.baseUrl)
      c.send({ type: "completions", ...longCompletion })
      await c.next()
      c.ws.close()
      expect(await eventually(async () => (await abortedCount(server.baseUrl)) === abortedBefore + 1)).toBe(true)
      expect(await eventually(async () => (await kvUsage(server.baseUrl)) === 0)).toBe(true)
    })

    it("a plain GET is told to upgrade", async () => {
      const r = await fetch(`${server.baseUrl}/v1/ws`)
      expect(r.status).toBe(426)
      expect(((await r.json()) as any).error.code).toBe("upgrade_required")
    })
  })
})
