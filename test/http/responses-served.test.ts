import OpenAI from "openai"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { chatResponse, startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { waitFor } from "../support/cli-process.ts"
import { startTracedServe, type TracedServe } from "../support/traced-serve.ts"

/**
 * OpenAI's Responses API with the official openai SDK against `inferline serve` (keys on, the embedded
 * database storing responses): the served model and a group of OpenAI-compatible fake upstreams; create,
 * stream, retrieve, input_items, delete, previous_response_id, a function tool round trip, text.format
 * json_schema, and one key never seeing another's responses.
 */
const MASTER = "sk-master-responses"

const WEATHER = { type: "function" as const, name: "get_weather", description: "Current weather in a city", strict: true, parameters: { type: "object", properties: { city: { type: "string", minLength: 1, maxLength: 20 } }, required: ["city"], additionalProperties: false } }

const toolCallCompletion = {
  ...chatResponse(""),
  choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "call_9", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] }, finish_reason: "tool_calls" }]
}

/** A response object as sent (without what the SDK adds to what it returns: output_text, _request_id). */
const plain = (r: unknown) => {
  const { output_text: _, _request_id: __, ...rest } = JSON.parse(JSON.stringify(r))
  return rest
}

describe("/v1/responses, served", () => {
  let upstream: FakeUpstream
  let served: TracedServe
  let url: string
  let client: OpenAI
  let receiver: TracedServe["receiver"]
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "Hello from upstream." }])
    served = await startTracedServe({
      master: MASTER,
      config: [
        "model_list:",
        `  - { model_name: remote, litellm_params: { model: openai/upstream-model, api_base: "${upstream.url}/v1" }, model_info: { id: remote-0 } }`,
        "router_settings: { num_retries: 0 }"
      ]
    })
    ;({ url, receiver } = served)
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: MASTER, maxRetries: 0 })
  }, 60_000)
  afterAll(async () => {
    await served.close()
    await upstream.close()
  })
  beforeEach(() => upstream.reset([{ type: "json", content: "Hello from upstream." }]))

  const newKey = async (name: string) => {
    const r = await fetch(`${url}/admin/keys`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ name }) })
    return new OpenAI({ baseURL: `${url}/v1`, apiKey: ((await r.json()) as any).key, maxRetries: 0 })
  }
  const ledgerRow = (requestId: string) => served.ledgerRow(requestId)

  it("creates with the served model, stores it, and retrieves, lists input items and deletes it", async () => {
    const { data: response, response: http } = await client.responses.create({ model: "served", instructions: "Answer from the scriptures.", input: "In the beginning", max_output_tokens: 8, temperature: 0 }).withResponse()
    expect(response).toMatchObject({ object: "response", model: "served", instructions: "Answer from the scriptures.", store: true, error: null })
    expect(response.id).toMatch(/^resp_/)
    expect(["completed", "incomplete"]).toContain(response.status)
    expect(response.output).toHaveLength(1)
    expect(response.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed" })
    expect(response.output_text.length).toBeGreaterThan(0)
    expect(response.usage!.output_tokens).toBeGreaterThan(0)
    expect(response.usage!.total_tokens).toBe(response.usage!.input_tokens + response.usage!.output_tokens)
    const requestId = http.headers.get("x-request-id")!
    expect(await ledgerRow(requestId)).toMatchObject({ operation: "chat", model_group: "served", input_tokens: response.usage!.input_tokens, output_tokens: response.usage!.output_tokens })
    await waitFor("the span", () => receiver.spans.some((s) => s.attributes["inferline.request_id"] === requestId && s.name === "chat served"))

    const retrieved = await client.responses.retrieve(response.id)
    expect(plain(retrieved)).toEqual(plain(response))
    const items = await client.responses.inputItems.list(response.id)
    expect(items.data).toHaveLength(1)
    expect(items.data[0]).toMatchObject({ type: "message", role: "user", content: [{ type: "input_text", text: "In the beginning" }] })
    expect(await client.responses.delete(response.id)).toMatchObject({ id: response.id, object: "response", deleted: true })
    await expect(client.responses.retrieve(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it("streams OpenAI's typed events in order; the completed response is the one stored", async () => {
    const types: Array<string> = []
    const sequence: Array<number> = []
    let text = ""
    let completed: any
    const stream = await client.responses.create({ model: "served", input: "And God said", max_output_tokens: 8, temperature: 0, stream: true })
    for await (const event of stream) {
      types.push(event.type)
      sequence.push(event.sequence_number)
      if (event.type === "response.output_text.delta") text += event.delta
      if (event.type === "response.completed" || event.type === "response.incomplete") completed = event.response
    }
    const deltas = types.filter((t) => t === "response.output_text.delta").length
    expect(deltas).toBeGreaterThan(0)
    expect(types).toEqual([
      "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
      ...Array(deltas).fill("response.output_text.delta"),
      "response.output_text.done", "response.content_part.done", "response.output_item.done", completed.status === "completed" ? "response.completed" : "response.incomplete"
    ])
    expect(sequence).toEqual(types.map((_, i) => i))
    expect(completed.output[0].content[0].text).toBe(text)
    const whole = await client.responses.create({ model: "served", input: "And God said", max_output_tokens: 8, temperature: 0 })
    expect(whole.output_text).toBe(text)
    expect(completed.usage.output_tokens).toBe(whole.usage!.output_tokens)
    expect(plain(await client.responses.retrieve(completed.id))).toEqual(plain(completed))
  })

  it("streams a routed group's answer as typed events, with its ledger row and span", async () => {
    upstream.reset([{ type: "stream", chunks: ["Hel", "lo"] }])
    const stream = client.responses.stream({ model: "remote", input: "Hi" })
    const deltas: Array<string> = []
    stream.on("response.output_text.delta", (e) => deltas.push(e.delta))
    const final = await stream.finalResponse()
    expect(deltas).toEqual(["Hel", "lo"])
    expect(final.output_text).toBe("Hello")
    expect(final.usage).toMatchObject({ input_tokens: 5, output_tokens: 2, total_tokens: 7 })
    expect(upstream.requests[0].body).toMatchObject({ model: "upstream-model", stream: true, messages: [{ role: "user", content: "Hi" }] })
    const stored = await client.responses.retrieve(final.id)
    expect(stored.output_text).toBe("Hello")
    // The ledger row is journaled, then flushed: polled until it is there (or the wait fails the test).
    await waitFor("the routed ledger row", async () => {
      const rows = await fetch(`${url}/spend/logs?model=remote&limit=50`, { headers: { authorization: `Bearer ${MASTER}` } }).then((r) => r.json() as Promise<any>)
      return rows.data.some((r: any) => r.deployment === "remote-0" && r.input_tokens === 5 && r.output_tokens === 2 && r.first_token_time !== null)
    })
    await waitFor("the routed span", () => receiver.spans.some((s) => s.name === "chat remote" && s.attributes["inferline.deployment"] === "remote-0"))
  })

  it("an upstream that breaks mid-stream ends the events with an error event, and nothing is stored", async () => {
    const first = { id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "Hal" }, finish_reason: null }] }
    upstream.reset([{ type: "raw", body: [`data: ${JSON.stringify(first)}\n\n`], drop: true }])
    const r = await fetch(`${url}/v1/responses`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ model: "remote", input: "Hi", stream: true }) })
    const events = (await r.text()).split("\n\n").filter(Boolean).map((e) => JSON.parse(e.split("\n")[1].slice(6)))
    expect(events.map((e) => e.type)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta", "error"])
    expect(events.at(-1)).toMatchObject({ type: "error", code: "upstream_error" })
    await expect(client.responses.retrieve(events[0].response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it("continues a conversation with previous_response_id (the upstream gets the whole of it)", async () => {
    const first = await client.responses.create({ model: "remote", instructions: "Be brief.", input: "Hi" })
    expect(first.output_text).toBe("Hello from upstream.")
    upstream.reset([{ type: "json", content: "Second answer." }])
    const second = await client.responses.create({ model: "remote", previous_response_id: first.id, input: [{ role: "user", content: "And then?" }] })
    expect(second.previous_response_id).toBe(first.id)
    expect(upstream.requests[0].body.messages).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello from upstream." },
      { role: "user", content: "And then?" }
    ])
    // The served model counts the longer conversation.
    const a = await client.responses.create({ model: "served", input: "In the beginning", max_output_tokens: 4 })
    const b = await client.responses.create({ model: "served", input: "And God said", max_output_tokens: 4, previous_response_id: a.id })
    expect(b.usage!.input_tokens).toBeGreaterThan(a.usage!.input_tokens)
  })

  it("function tool round trip: a function_call item, then its output sent back with previous_response_id", async () => {
    upstream.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify(toolCallCompletion) }])
    const call = await client.responses.create({ model: "remote", input: "Weather in Paris?", tools: [WEATHER] })
    expect(call.output).toHaveLength(1)
    expect(call.output[0]).toMatchObject({ type: "function_call", call_id: "call_9", name: "get_weather", arguments: "{\"city\":\"Paris\"}", status: "completed" })
    expect(upstream.requests[0].body.tools).toEqual([{ type: "function", function: { name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters, strict: true } }])
    upstream.reset([{ type: "json", content: "Sunny in Paris." }])
    const answer = await client.responses.create({ model: "remote", previous_response_id: call.id, tools: [WEATHER], input: [{ type: "function_call_output", call_id: "call_9", output: "{\"sky\":\"sunny\"}" }] })
    expect(answer.output_text).toBe("Sunny in Paris.")
    expect(upstream.requests[0].body.messages).toEqual([
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_9", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
      { role: "tool", tool_call_id: "call_9", content: "{\"sky\":\"sunny\"}" }
    ])
    // With the served model: a forced call whose arguments match the schema.
    const forced = await client.responses.create({ model: "served", input: "Weather in Paris?", tools: [WEATHER], tool_choice: "required", parallel_tool_calls: false, max_output_tokens: 200, temperature: 0 })
    const item = forced.output.find((o) => o.type === "function_call")! as OpenAI.Responses.ResponseFunctionToolCall
    expect(item.name).toBe("get_weather")
    expect(typeof JSON.parse(item.arguments).city).toBe("string")
    // Streamed, the same call arrives as function_call events whose deltas make its arguments.
    const events: Array<any> = []
    for await (const e of await client.responses.create({ model: "served", input: "Weather in Paris?", tools: [WEATHER], tool_choice: "required", parallel_tool_calls: false, max_output_tokens: 200, temperature: 0, stream: true })) events.push(e)
    const added = events.find((e) => e.type === "response.output_item.added" && e.item.type === "function_call")
    expect(added.item).toMatchObject({ name: "get_weather", status: "in_progress", arguments: "" })
    const args = events.filter((e) => e.type === "response.function_call_arguments.delta" && e.item_id === added.item.id).map((e) => e.delta).join("")
    expect(events.find((e) => e.type === "response.function_call_arguments.done").arguments).toBe(args)
    expect(args).toBe(item.arguments)
    expect(events.at(-1).response.output.find((o: any) => o.type === "function_call")).toMatchObject({ name: "get_weather", arguments: item.arguments, status: "completed" })
  })

  it("text.format json_schema: the served model's output follows the schema", async () => {
    const schema = { type: "object", properties: { book: { enum: ["Genesis", "Exodus"] }, chapter: { type: "integer", minimum: 1, maximum: 50 } }, required: ["book", "chapter"], additionalProperties: false }
    const r = await client.responses.create({ model: "served", input: "Name a chapter.", max_output_tokens: 60, text: { format: { type: "json_schema", name: "chapter", schema, strict: true } } })
    const parsed = JSON.parse(r.output_text)
    expect(["Genesis", "Exodus"]).toContain(parsed.book)
    expect(Number.isInteger(parsed.chapter)).toBe(true)
  })

  it("keeps each key's responses to itself; store: false keeps nothing", async () => {
    const [alice, bob] = await Promise.all([newKey("alice"), newKey("bob")])
    const mine = await alice.responses.create({ model: "remote", input: "Hi" })
    expect((await alice.responses.retrieve(mine.id)).id).toBe(mine.id)
    await expect(bob.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(bob.responses.inputItems.list(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(bob.responses.delete(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(bob.responses.create({ model: "remote", input: "x", previous_response_id: mine.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(client.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    const unstored = await alice.responses.create({ model: "remote", input: "Hi", store: false })
    expect((unstored as unknown as { store: boolean }).store).toBe(false)
    await expect(alice.responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it("refuses what it cannot do, in OpenAI's error shape, naming the field", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ input: "x", reasoning: { effort: "high" } }, "reasoning"],
      [{ input: "x", tools: [{ type: "web_search" }] }, "tools[0].type"],
      [{ input: "x", conversation: "conv_1" }, "conversation"],
      [{ input: "x", background: true }, "background"],
      [{ input: [{ type: "reasoning", summary: [] }] }, "input[0].type"],
      [{ input: "x", include: ["message.output_text.logprobs"] }, "include"]
    ]
    for (const [body, param] of cases) {
      const r = await fetch(`${url}/v1/responses`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ model: "served", ...body }) })
      const json = (await r.json()) as any
      expect([r.status, json.error?.param, json.error?.code], JSON.stringify(body)).toEqual([400, param, "unsupported_parameter"])
    }
    await expect(client.responses.create({ model: "served", input: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError)
    const wrongMethod = await fetch(`${url}/v1/responses/resp_1`, { method: "PUT", headers: { authorization: `Bearer ${MASTER}` } })
    expect([wrongMethod.status, wrongMethod.headers.get("allow")]).toEqual([405, "GET, DELETE"])
    await expect(client.responses.create({ model: "served", input: "x", previous_response_id: "resp_nope" })).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})
