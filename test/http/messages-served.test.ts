import Anthropic from "@anthropic-ai/sdk"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { chatResponse, startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { startTracedServe, type TracedServe } from "../support/traced-serve.ts"

/**
 * Anthropic's Messages API as Claude Code and the Anthropic SDK use it, against `inferline serve`: the
 * served model, and a group of OpenAI-compatible fake upstreams the request is translated for. Keys go
 * in x-api-key (the SDK's way). Each answer's ledger row and span are checked.
 */
const MASTER = "sk-master-messages"

const WEATHER: Anthropic.Tool = { name: "get_weather", description: "Current weather in a city", input_schema: { type: "object" as const, properties: { city: { type: "string", minLength: 1, maxLength: 20 } }, required: ["city"], additionalProperties: false } }

/** A chat completion calling get_weather, as an OpenAI-compatible upstream answers. */
const toolCallCompletion = {
  ...chatResponse(""),
  choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] }, finish_reason: "tool_calls" }],
  usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 }
}

const raw = (url: string, pathname: string, body: unknown, headers: Record<string, string> = { "x-api-key": MASTER }) =>
  fetch(`${url}${pathname}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })

/** An Anthropic message with a thinking block (which a translation to chat would lose). */
const anthropicMessage = {
  id: "msg_native1",
  type: "message",
  role: "assistant",
  model: "claude-x",
  content: [{ type: "thinking", thinking: "Let me think.", signature: "sig" }, { type: "text", text: "Native hello." }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 11, cache_read_input_tokens: 4, cache_creation_input_tokens: 0, output_tokens: 6 }
}
const sse = (events: ReadonlyArray<Record<string, unknown>>) => events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
const anthropicEvents = [
  { type: "message_start", message: { ...anthropicMessage, content: [], stop_reason: null, usage: { input_tokens: 11, cache_read_input_tokens: 4, output_tokens: 1 } } },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Native " } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hello." } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 6 } },
  { type: "message_stop" }
]

describe("/v1/messages, served", () => {
  let anthropic: FakeUpstream
  let upstream: FakeUpstream
  let served: TracedServe
  let url: string
  let client: Anthropic
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "Hello from upstream." }])
    anthropic = await startFakeUpstream([{ type: "raw", contentType: "application/json", body: JSON.stringify(anthropicMessage) }])
    served = await startTracedServe({
      master: MASTER,
      config: [
        "model_list:",
        `  - { model_name: remote, litellm_params: { model: openai/upstream-model, api_base: "${upstream.url}/v1" }, model_info: { id: remote-0 } }`,
        `  - { model_name: claude, litellm_params: { model: anthropic/claude-x, api_base: "${anthropic.url}", api_key: sk-ant-upstream }, model_info: { id: claude-0 } }`,
        "router_settings: { num_retries: 0 }"
      ]
    })
    url = served.url
    client = new Anthropic({ baseURL: url, apiKey: MASTER, maxRetries: 0 })
  }, 60_000)
  afterAll(async () => {
    await served.close()
    await upstream.close()
    await anthropic.close()
  })
  beforeEach(() => upstream.reset([{ type: "json", content: "Hello from upstream." }]))

  const ledgerRow = (requestId: string) => served.ledgerRow(requestId)
  const spanOf = (requestId: string) => served.spanOf(requestId)

  const ask = { model: "served", max_tokens: 12, temperature: 0, system: "You answer from the scriptures.", messages: [{ role: "user" as const, content: "In the beginning" }] }

  it("answers with the served model: a message with text, stop reason and usage that count_tokens agrees with", async () => {
    const { data: message, response } = await client.messages.create(ask).withResponse()
    expect(message).toMatchObject({ type: "message", role: "assistant", model: "served", stop_sequence: null })
    expect(message.id).toMatch(/^msg_/)
    expect(message.content).toHaveLength(1)
    expect(message.content[0].type).toBe("text")
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason)
    const counted = await client.messages.countTokens({ model: "served", system: ask.system, messages: ask.messages })
    expect(message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0)).toBe(counted.input_tokens)
    expect(message.usage.output_tokens).toBeGreaterThan(0)
    const requestId = response.headers.get("x-request-id")!
    expect(await ledgerRow(requestId)).toMatchObject({ operation: "chat", model_group: "served", deployment: "local", input_tokens: counted.input_tokens, output_tokens: message.usage.output_tokens })
    expect((await spanOf(requestId)).name).toBe("chat served")
  })

  it("streams Anthropic's exact event sequence; the streamed message is the one create answers", async () => {
    const whole = await client.messages.create(ask)
    // The raw events (the SDK skips pings): every event named by its data's type.
    const body = await (await raw(url, "/v1/messages", { ...ask, stream: true })).text()
    const events = body.split("\n\n").filter(Boolean).map((e) => {
      const [name, data] = e.split("\n")
      const json = JSON.parse(data.slice("data: ".length))
      expect(name).toBe(`event: ${json.type}`)
      return json
    })
    const types = events.map((e) => e.type)
    const text = events.filter((e) => e.type === "content_block_delta").map((e) => e.delta.text).join("")
    const { delta: { stop_reason: stop }, usage } = events.find((e) => e.type === "message_delta")
    const deltas = types.filter((t) => t === "content_block_delta").length
    expect(deltas).toBeGreaterThan(0)
    expect(types).toEqual(["message_start", "content_block_start", "ping", ...Array(deltas).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"])
    expect(events[0].message).toMatchObject({ role: "assistant", model: "served", content: [], stop_reason: null })
    expect(events[0].message.usage.input_tokens + events[0].message.usage.cache_read_input_tokens).toBe(whole.usage.input_tokens + (whole.usage.cache_read_input_tokens ?? 0))
    expect(text).toBe((whole.content[0] as Anthropic.TextBlock).text)
    expect(stop).toBe(whole.stop_reason)
    expect(usage.output_tokens).toBe(whole.usage.output_tokens)
    // The SDK's helper assembles the same message.
    const final = await client.messages.stream(ask).finalMessage()
    expect(final.content).toEqual(whole.content)
  })

  it("tool use round trip with the served model: a forced tool_use block, then the tool_result answered", async () => {
    // temperature is not in this SDK's types (newer models take none); the server still honours it.
    const greedy = { temperature: 0 } as {}
    const first = await client.messages.create({
      ...greedy, model: "served", max_tokens: 200, tools: [WEATHER], tool_choice: { type: "any", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "What is the weather in Paris?" }]
    })
    expect(first.stop_reason).toBe("tool_use")
    const call = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!
    expect(call.name).toBe("get_weather")
    expect(typeof (call.input as { city: unknown }).city).toBe("string")
    const second = await client.messages.create({
      ...greedy, model: "served", max_tokens: 10, tools: [WEATHER],
      messages: [
        { role: "user", content: "What is the weather in Paris?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "Sunny, 21 degrees." }] }
      ]
    })
    expect(second.content.length).toBeGreaterThan(0)
    const inputOf = (m: Anthropic.Message) => m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0)
    expect(inputOf(second)).toBeGreaterThan(inputOf(first))
  })

  it("output_config.format json_schema: the served model's text follows the schema", async () => {
    const schema = { type: "object", properties: { book: { enum: ["Genesis", "Exodus"] }, chapter: { type: "integer", minimum: 1, maximum: 50 } }, required: ["book", "chapter"], additionalProperties: false }
    const message = await client.messages.create({ model: "served", max_tokens: 60, messages: [{ role: "user", content: "Name a chapter." }], output_config: { format: { type: "json_schema", schema } }, cache_control: { type: "ephemeral" } })
    const parsed = JSON.parse((message.content[0] as Anthropic.TextBlock).text)
    expect(["Genesis", "Exodus"]).toContain(parsed.book)
    expect(Number.isInteger(parsed.chapter)).toBe(true)
    expect((await raw(url, "/v1/messages", { ...ask, output_config: { effort: "high" } })).status).toBe(400)
  })

  it("translates for an OpenAI-compatible group, with metadata.user_id as the end user, and a tool round trip", async () => {
    const { data: message, response } = await client.messages.create({ model: "remote", max_tokens: 30, messages: [{ role: "user", content: "Hi" }], stop_sequences: ["END"], metadata: { user_id: "user-42" } }).withResponse()
    expect(message.content).toEqual([{ type: "text", text: "Hello from upstream." }])
    expect(message.stop_reason).toBe("end_turn")
    expect(message.usage).toMatchObject({ input_tokens: 5, output_tokens: 2 })
    expect(upstream.requests[0].body).toMatchObject({ model: "upstream-model", max_tokens: 30, stop: ["END"], user: "user-42", messages: [{ role: "user", content: "Hi" }] })
    const row = await ledgerRow(response.headers.get("x-request-id")!)
    expect(row).toMatchObject({ model_group: "remote", deployment: "remote-0", end_user: "user-42", input_tokens: 5, output_tokens: 2 })
    expect((await spanOf(response.headers.get("x-request-id")!)).name).toBe("chat remote")

    // An image block goes to an OpenAI-compatible deployment as an image part (the served model refuses it).
    await client.messages.create({ model: "remote", max_tokens: 30, messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0K" } }] }] })
    expect(upstream.requests.at(-1)!.body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0K" } }] }])

    // count_tokens for a group without the served model: the router's estimate (about 4 characters a token).
    const estimate = await client.messages.countTokens({ model: "remote", messages: [{ role: "user", content: "x".repeat(400) }] })
    expect(estimate.input_tokens).toBe(104)

    upstream.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify(toolCallCompletion) }])
    const call = await client.messages.create({ model: "remote", max_tokens: 50, tools: [WEATHER], messages: [{ role: "user", content: "Weather in Paris?" }] })
    expect(call.stop_reason).toBe("tool_use")
    expect(call.content).toEqual([{ type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } }])
    expect(upstream.requests[0].body.tools).toEqual([{ type: "function", function: { name: "get_weather", description: WEATHER.description, parameters: WEATHER.input_schema } }])
    upstream.reset([{ type: "json", content: "It is sunny." }])
    const answer = await client.messages.create({
      model: "remote", max_tokens: 50, tools: [WEATHER],
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: call.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: [{ type: "text", text: "Sunny" }] }] }
      ]
    })
    expect(answer.content).toEqual([{ type: "text", text: "It is sunny." }])
    expect(upstream.requests[0].body.messages).toEqual([
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "Sunny" }
    ])
  })

  it("streams an upstream's chunks as Anthropic events", async () => {
    upstream.reset([{ type: "stream", chunks: ["Hel", "lo"] }])
    const final = await client.messages.stream({ model: "remote", max_tokens: 20, messages: [{ role: "user", content: "Hi" }] }).finalMessage()
    expect(final.content).toEqual([{ type: "text", text: "Hello" }])
    expect(final.stop_reason).toBe("end_turn")
    expect(final.usage.output_tokens).toBe(2)
  })

  it("passes requests to an Anthropic group through natively: the request as sent, the answer as Anthropic wrote it", async () => {
    anthropic.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify(anthropicMessage) }])
    const request = { model: "claude", max_tokens: 2000, thinking: { type: "enabled" as const, budget_tokens: 1024 }, messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "Hi", cache_control: { type: "ephemeral" as const } }] }], metadata: { user_id: "user-7" } }
    const { data: message, response } = await client.messages.create(request).withResponse()
    expect(message).toEqual(anthropicMessage)
    expect(anthropic.requests[0].path).toBe("/v1/messages")
    expect(anthropic.requests[0].headers["x-api-key"]).toBe("sk-ant-upstream")
    expect(anthropic.requests[0].body).toEqual({ ...request, model: "claude-x", stream: false })
    expect(response.headers.get("x-inferline-deployment")).toBe("claude-0")
    const row = await ledgerRow(response.headers.get("x-request-id")!)
    expect(row).toMatchObject({ model_group: "claude", deployment: "claude-0", provider: "anthropic", end_user: "user-7", input_tokens: 15, cached_input_tokens: 4, output_tokens: 6, status: "ok" })
    expect((await spanOf(response.headers.get("x-request-id")!)).name).toBe("chat claude")

    anthropic.reset([{ type: "raw", body: sse(anthropicEvents) }])
    const body = await (await raw(url, "/v1/messages", { model: "claude", max_tokens: 50, stream: true, messages: [{ role: "user", content: "Hi" }] })).text()
    expect(body).toBe(sse(anthropicEvents).join(""))
    expect(anthropic.requests[0].body.stream).toBe(true)
    const final = await client.messages.stream({ model: "claude", max_tokens: 50, messages: [{ role: "user", content: "Hi" }] }).finalMessage()
    expect(final.content).toEqual([{ type: "text", text: "Native hello." }])
    // count_tokens is Anthropic's own count.
    anthropic.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify({ input_tokens: 42 }) }])
    const counted = await client.messages.countTokens({ model: "claude", system: "Be brief.", messages: [{ role: "user", content: "Hi" }] })
    expect(counted.input_tokens).toBe(42)
    expect(anthropic.requests[0].path).toBe("/v1/messages/count_tokens")
    expect(anthropic.requests[0].body).toEqual({ model: "claude-x", system: "Be brief.", messages: [{ role: "user", content: "Hi" }] })
    // Anthropic's own refusal comes back as it said it.
    anthropic.reset([{ type: "status", status: 400, body: { type: "error", error: { type: "invalid_request_error", message: "max_tokens: too large for this model" } } }])
    const refused = await raw(url, "/v1/messages", { model: "claude", max_tokens: 999999, messages: [{ role: "user", content: "Hi" }] })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
  })

  it("an upstream that breaks mid-stream ends the events with an Anthropic error event", async () => {
    const first = { id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "Hal" }, finish_reason: null }] }
    upstream.reset([{ type: "raw", body: [`data: ${JSON.stringify(first)}\n\n`], drop: true }])
    const body = await (await raw(url, "/v1/messages", { model: "remote", max_tokens: 20, stream: true, messages: [{ role: "user", content: "Hi" }] })).text()
    const events = body.split("\n\n").filter(Boolean).map((e) => e.split("\n")[0])
    expect(events).toEqual(["event: message_start", "event: content_block_start", "event: ping", "event: content_block_delta", "event: error"])
    expect(JSON.parse(body.split("\n\n").filter(Boolean).at(-1)!.split("\n")[1].slice(6))).toMatchObject({ type: "error", error: { type: "api_error" } })
  })

  it("refuses in Anthropic's error shape, with the right status", async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ model: "served", messages: [{ role: "user", content: "x" }] }, 400, "invalid_request_error", /max_tokens/],
      [{ ...ask, container: "c" }, 400, "invalid_request_error", /container/],
      [{ ...ask, thinking: { type: "enabled", budget_tokens: 1024 } }, 400, "invalid_request_error", /thinking/],
      [{ ...ask, messages: [{ role: "user", content: [{ type: "document", source: {} }] }] }, 400, "invalid_request_error", /document/],
      [{ ...ask, tools: [{ type: "web_search_20250305", name: "web_search" }] }, 400, "invalid_request_error", /server tools/],
      [{ ...ask, model: "nope" }, 404, "not_found_error", /nope/],
      [{ ...ask, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }] }] }, 400, "invalid_request_error", /image/]
    ]
    for (const [body, status, type, message] of cases) {
      const r = await raw(url, "/v1/messages", body)
      const json = await r.json() as any
      expect([r.status, json.type, json.error?.type], JSON.stringify(body)).toEqual([status, "error", type])
      expect(json.error.message).toMatch(message)
    }
    const unauthorized = await raw(url, "/v1/messages", ask, { "x-api-key": "sk-wrong" })
    expect(unauthorized.status).toBe(401)
    expect(await unauthorized.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } })
    await expect(client.messages.create({ ...ask, max_tokens: 0 })).rejects.toBeInstanceOf(Anthropic.BadRequestError)
    await expect(new Anthropic({ baseURL: url, apiKey: "sk-wrong", maxRetries: 0 }).messages.create(ask)).rejects.toBeInstanceOf(Anthropic.AuthenticationError)
    // Bearer works too.
    expect((await raw(url, "/v1/messages", ask, { authorization: `Bearer ${MASTER}` })).status).toBe(200)
    // A key limited to one model may not use (or count tokens on) another, served, translated or native.
    const made = await fetch(`${url}/admin/keys`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ models: ["remote"] }) })
    const { key } = (await made.json()) as any
    for (const model of ["served", "claude"]) {
      for (const pathname of ["/v1/messages", "/v1/messages/count_tokens"]) {
        const r = await raw(url, pathname, { ...ask, model }, { "x-api-key": key })
        expect([r.status, ((await r.json()) as any).error?.type], `${pathname} ${model}`).toEqual([403, "permission_error"])
      }
    }
    expect((await raw(url, "/v1/messages/count_tokens", { ...ask, model: "remote" }, { "x-api-key": key })).status).toBe(200)
  })
})
