import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiMiddleware } from "../../src/http/server.ts"
import { getJson, metricValue, MODEL, postJson, scrapeMetrics, startTestServer, type TestServer } from "./support/server.ts"

const expectOpenAiError = (body: any, type: string) => {
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(body.error.type).toBe(type)
  expect(typeof body.error.message).toBe("string")
  expect(body.error.message).not.toMatch(/\n\s+at /) // no stack trace
}

describe("API errors", () => {
  let server: TestServer
  /** Refuses every generation (no room in its waiting queue) and accepts bodies up to 1 KiB. */
  let overloaded: TestServer
  beforeAll(async () => {
    ;[server, overloaded] = await Promise.all([startTestServer(), startTestServer({ maxWaitingRequests: 1, maxNumSeqs: 1 }, { maxRequestBodyBytes: 1024 })])
  })
  afterAll(() => Promise.all([server?.close(), overloaded?.close()]))

  const chatUrl = () => `${server.baseUrl}/v1/chat/completions`
  const messages = [{ role: "user", content: "In the beginning" }]

  it("malformed JSON: 400 invalid_request_error", async () => {
    const r = await postJson(chatUrl(), "{\"messages\": [", true)
    expect(r.status).toBe(400)
    expectOpenAiError(r.json, "invalid_request_error")
    expect(r.json.error.code).toBe("invalid_json")
  })

  it("a field of the wrong type: 400 naming the field in message and param (through the SDK)", async () => {
    const err = await server.client.chat.completions.create({ model: MODEL, messages: messages as never, temperature: "hot" as never }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect(err.status).toBe(400)
    expect(err.type).toBe("invalid_request_error")
    expect(err.param).toBe("temperature")
    expect(err.message).toContain("temperature")

    const nested = await postJson(chatUrl(), { messages: [{ role: "user", content: 3 }] })
    expect(nested.status).toBe(400)
    expect(nested.json.error.param).toBe("messages[0].content")

    const missing = await postJson(chatUrl(), { model: MODEL })
    expect(missing.status).toBe(400)
    expect(missing.json.error.param).toBe("messages")
  })

  it("an out-of-range value: 400 with param", async () => {
    for (const [field, value] of [["top_p", 7], ["n", 0], ["presence_penalty", 3], ["max_tokens", 0], ["top_logprobs", 3]] as const) {
      const r = await postJson(chatUrl(), { messages, [field]: value, ...(field === "top_logprobs" && { logprobs: false }) })
      expect(r.status, field).toBe(400)
      expectOpenAiError(r.json, "invalid_request_error")
      expect(r.json.error.param).toBe(field)
    }
  })

  it("unknown fields are not silently ignored: a 400 naming the field (user is accepted)", async () => {
    const r = await postJson(chatUrl(), { messages, max_tokens: 2, something_new: { a: 1 }, user: "u1" })
    expect(r.status).toBe(400)
    expect(r.json.error).toMatchObject({ type: "invalid_request_error", param: "something_new", code: "unsupported_parameter" })
    expect((await postJson(chatUrl(), { messages, max_tokens: 2, user: "u1" })).status).toBe(200)
  })

  it("unknown model: 404 model_not_found", async () => {
    const err = await server.client.chat.completions.create({ model: "gpt-9", messages: messages as never }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.code).toBe("model_not_found")
    expect(err.param).toBe("model")
  })

  it("a prompt longer than max_model_len: 400 naming both lengths", async () => {
    const maxModelLen: number = (await getJson(`${server.baseUrl}/v1/models`)).data[0].max_model_len
    const prompt = "and ".repeat(maxModelLen + 50)
    const r = await postJson(`${server.baseUrl}/v1/completions`, { prompt, max_tokens: 1 })
    expect(r.status).toBe(400)
    expectOpenAiError(r.json, "invalid_request_error")
    expect(r.json.error.code).toBe("context_length_exceeded")
    const tokens = (await postJson(`${server.baseUrl}/tokenize`, { prompt })).json
    expect(r.json.error.message).toContain(String(tokens.max_model_len))
    expect(r.json.error.message).toContain(String(tokens.count))
    // And max_tokens that does not fit after the prompt.
    const tooMany = await postJson(`${server.baseUrl}/v1/completions`, { prompt: "and", max_tokens: 100_000 })
    expect(tooMany.status).toBe(400)
    expect(tooMany.json.error.param).toBe("max_tokens")
  })

  it("a body over the limit: 413 (default 2 MiB, configurable)", async () => {
    const big = await postJson(chatUrl(), { messages: [{ role: "user", content: "a".repeat(3 * 2 ** 20) }] })
    expect(big.status).toBe(413)
    expectOpenAiError(big.json, "invalid_request_error")
    const small = await postJson(`${overloaded.baseUrl}/tokenize`, { prompt: "a".repeat(2000) })
    expect(small.status).toBe(413)
  })

  it("engine overloaded: 503 with Retry-After, streaming or not", async () => {
    // One sequence runs (max_num_seqs 1) and one waits (the whole waiting queue): the engine is full.
    const hold = new AbortController()
    const long = { messages, max_tokens: 1500, ignore_eos: true, stream: true }
    const running = fetch(`${overloaded.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(long), signal: hold.signal })
    await running.then((r) => r.body!.getReader().read())
    const waiting = fetch(`${overloaded.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(long), signal: hold.signal }).catch(() => undefined)
    for (let i = 0; i < 200 && (metricValue(await scrapeMetrics(overloaded.baseUrl), "inferline_num_requests_waiting", {}) ?? 0) < 1; i++) await new Promise((r) => setTimeout(r, 10))
    const r = await postJson(`${overloaded.baseUrl}/v1/chat/completions`, { messages, max_tokens: 2 })
    expect(r.status).toBe(503)
    expect(r.headers.get("retry-after")).toBe("1")
    expectOpenAiError(r.json, "server_error")
    expect(r.json.error.code).toBe("overloaded")
    const s = await postJson(`${overloaded.baseUrl}/v1/completions`, { prompt: "And", max_tokens: 2, stream: true })
    expect(s.status).toBe(503)
    expect(s.headers.get("content-type")).toContain("application/json")
    // Refused requests never ran: they are not counted as aborted.
    expect(metricValue(await scrapeMetrics(overloaded.baseUrl), "inferline_request_success_total", { finished_reason: "abort" })).toBe(0)
    hold.abort()
    await waiting
  })

  it("a request asking for more sequences than may ever wait: 400 naming the limit, not 503", async () => {
    const r = await postJson(`${overloaded.baseUrl}/v1/chat/completions`, { messages, max_tokens: 2, n: 2 })
    expect(r.status).toBe(400)
    expectOpenAiError(r.json, "invalid_request_error")
    expect(r.json.error).toMatchObject({ code: "too_many_sequences", param: "n" })
    expect(r.json.error.message).toContain("at most 1 wait")
    const c = await postJson(`${overloaded.baseUrl}/v1/completions`, { prompt: ["And", "God"], max_tokens: 2 })
    expect(c.json.error).toMatchObject({ code: "too_many_sequences", param: "prompt" })
  })

  it("unknown route: 404; wrong method: 405 with Allow", async () => {
    const r = await fetch(`${server.baseUrl}/v1/nothing`)
    expect(r.status).toBe(404)
    expectOpenAiError(await r.json(), "invalid_request_error")
    const m = await fetch(`${server.baseUrl}/v1/chat/completions`)
    expect(m.status).toBe(405)
    expect(m.headers.get("allow")).toBe("POST")
    expectOpenAiError(await m.json(), "invalid_request_error")
  })

  it("no input crashes the server: every bad body gets a 4xx and the server stays up", async () => {
    const bodies: Array<[string, unknown]> = [
      ["/v1/chat/completions", null],
      ["/v1/chat/completions", []],
      ["/v1/chat/completions", "text"],
      ["/v1/chat/completions", { messages: [] }],
      ["/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }],
      ["/v1/chat/completions", { messages, logit_bias: { abc: 1 } }],
      ["/v1/chat/completions", { messages, stop: [""] }],
      ["/v1/chat/completions", { messages, n: 1e300 }],
      ["/v1/chat/completions", { messages, seed: 1.5 }],
      ["/v1/chat/completions", { messages, stream_options: "yes" }],
      ["/v1/completions", { prompt: [] }],
      ["/v1/completions", { prompt: "" }],
      ["/v1/completions", { prompt: [[]] }],
      ["/v1/completions", { prompt: [-1, 5] }],
      ["/v1/completions", { prompt: [10 ** 9] }],
      ["/v1/completions", { prompt: "x", logprobs: 1000 }],
      ["/v1/completions", { prompt: "x", stop_token_ids: [-3] }],
      ["/tokenize", {}],
      ["/tokenize", { prompt: "a", messages }],
      ["/detokenize", { tokens: [1e9] }],
      ["/detokenize", { tokens: "abc" }]
    ]
    for (const [path, body] of bodies) {
      const r = await postJson(`${server.baseUrl}${path}`, body)
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400)
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBeLessThan(500)
      expectOpenAiError(r.json, "invalid_request_error")
    }
    const invalidUtf8 = await fetch(`${server.baseUrl}/v1/completions`, { method: "POST", body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) })
    expect(invalidUtf8.status).toBe(400)
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200)
  })

  it("an internal fault: 500 in the OpenAI shape, without the exception's details", async () => {
    const boom = HttpRouter.add("GET", "/boom", Effect.die(new Error("secret detail")))
    const { handler, dispose } = HttpRouter.toWebHandler(Layer.mergeAll(boom, apiMiddleware(false)).pipe(Layer.provide(HttpServer.layerServices)), { disableLogger: true })
    try {
      const r = await handler(new Request("http://localhost/boom"))
      expect(r.status).toBe(500)
      const body = await r.json()
      expectOpenAiError(body, "server_error")
      expect(JSON.stringify(body)).not.toContain("secret")
    } finally {
      await dispose()
    }
  })
})
