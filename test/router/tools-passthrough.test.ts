import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

const TOOLS = [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }]
const CONVERSATION = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Weather in Paris and Rome?" },
  { role: "assistant", content: "Let me look.", tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }, { id: "call_2", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Rome\"}" } }] },
  { role: "tool", tool_call_id: "call_1", content: "21C" },
  { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "18C" }] }
]

const sse = (events: ReadonlyArray<Record<string, unknown>>) => events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)

describe("tools and structured outputs through the router", () => {
  let openai: FakeUpstream, anthropic: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[openai, anthropic] = await Promise.all([startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json" }])])
    server = await startRouterServer({
      model_list: [
        openAiDeployment("gpt", "gpt", openai.url),
        { model_name: "claude", litellm_params: { model: "anthropic/claude-x", api_base: anthropic.url, api_key: "sk-ant" } }
      ]
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([openai.close(), anthropic.close()])
  })

  it("OpenAI-compatible upstreams get tools, tool_choice, response_format, tool messages and unknown fields unchanged", async () => {
    openai.reset([{ type: "json", content: "ok" }])
    const body = {
      model: "gpt",
      messages: CONVERSATION,
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "get_weather" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object" }, strict: true } },
      guided_regex: "a+",
      reasoning_effort: "low",
      some_provider_extra: { a: 1 }
    }
    const r = await postChat(server.baseUrl, body)
    expect(r.status, r.text).toBe(200)
    const sent = openai.requests.at(-1)!.body
    const { model: _, ...rest } = body
    expect(sent).toEqual({ ...rest, model: "gpt-model", stream: false })
  })

  it("Anthropic: tools, tool_choice with parallel_tool_calls, tool_use and tool_result blocks", async () => {
    anthropic.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify({ id: "msg_1", type: "message", role: "assistant", content: [{ type: "text", text: "Checking." }, { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } }], stop_reason: "tool_use", usage: { input_tokens: 5, output_tokens: 7 } }) }])
    const r = await postChat(server.baseUrl, { model: "claude", messages: CONVERSATION, tools: TOOLS, tool_choice: "required", parallel_tool_calls: false })
    expect(r.status, r.text).toBe(200)
    const sent = anthropic.requests.at(-1)!.body
    expect(sent.tools).toEqual([{ name: "get_weather", description: "Weather", input_schema: TOOLS[0].function.parameters }])
    expect(sent.tool_choice).toEqual({ type: "any", disable_parallel_tool_use: true })
    expect(sent.system).toBe("Be brief.")
    expect(sent.messages).toEqual([
      { role: "user", content: "Weather in Paris and Rome?" },
      { role: "assistant", content: [{ type: "text", text: "Let me look." }, { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } }, { type: "tool_use", id: "call_2", name: "get_weather", input: { city: "Rome" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "21C" }, { type: "tool_result", tool_use_id: "call_2", content: "18C" }] }
    ])
    expect(r.json.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: { role: "assistant", content: "Checking.", tool_calls: [{ id: "toolu_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\"}" } }] }
    })
    // A named choice, and auto with parallel calls off.
    await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "x" }], tools: TOOLS, tool_choice: { type: "function", function: { name: "get_weather" } } })
    expect(anthropic.requests.at(-1)!.body.tool_choice).toEqual({ type: "tool", name: "get_weather" })
    await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "x" }], tools: TOOLS, parallel_tool_calls: false })
    expect(anthropic.requests.at(-1)!.body.tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true })
    await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "x" }], tools: TOOLS, tool_choice: "none" })
    expect(anthropic.requests.at(-1)!.body.tool_choice).toEqual({ type: "none" })
  })

  it("Anthropic streaming: tool_use blocks become OpenAI tool-call deltas (id and name first, arguments from input_json deltas)", async () => {
    anthropic.reset([{
      type: "raw",
      body: sse([
        { type: "message_start", message: { id: "msg_2", usage: { input_tokens: 5, output_tokens: 1 } } },
        { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "On it." } },
        { type: "content_block_stop", index: 0 },
        { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_9", name: "get_weather", input: {} } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "" } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"city\": \"Li" } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "ma\"}" } },
        { type: "content_block_stop", index: 1 },
        { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_10", name: "get_weather", input: {} } },
        { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "{\"city\": \"Quito\"}" } },
        { type: "content_block_stop", index: 2 },
        { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 20 } },
        { type: "message_stop" }
      ])
    }])
    const stream = await server.client.chat.completions.create({ model: "claude", messages: [{ role: "user", content: "Weather?" }], tools: TOOLS as never, stream: true })
    let content = ""
    let finish: string | null = null
    const calls: Array<{ id: string; name: string; arguments: string }> = []
    for await (const chunk of stream) {
      const c = chunk.choices[0]
      if (c === undefined) continue
      content += c.delta.content ?? ""
      finish = c.finish_reason ?? finish
      for (const d of c.delta.tool_calls ?? []) {
        if (d.id !== undefined) calls[d.index] = { id: d.id, name: d.function!.name!, arguments: d.function?.arguments ?? "" }
        else calls[d.index].arguments += d.function?.arguments ?? ""
      }
    }
    expect(content).toBe("On it.")
    expect(finish).toBe("tool_calls")
    expect(calls).toEqual([{ id: "toolu_9", name: "get_weather", arguments: "{\"city\": \"Lima\"}" }, { id: "toolu_10", name: "get_weather", arguments: "{\"city\": \"Quito\"}" }])
  })

  it("Anthropic: response_format json_schema through a forced tool, its input the answer (whole and streamed)", async () => {
    const schema = { type: "object", properties: { verse: { type: "string" } }, required: ["verse"] }
    anthropic.reset([{ type: "raw", contentType: "application/json", body: JSON.stringify({ id: "msg_3", type: "message", role: "assistant", content: [{ type: "tool_use", id: "toolu_2", name: "json_response", input: { verse: "Jesus wept." } }], stop_reason: "tool_use", usage: { input_tokens: 5, output_tokens: 7 } }) }])
    const r = await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "A verse" }], response_format: { type: "json_schema", json_schema: { name: "v", schema, strict: true } } })
    expect(r.status, r.text).toBe(200)
    const sent = anthropic.requests.at(-1)!.body
    expect(sent.tools).toEqual([{ name: "json_response", description: expect.any(String), input_schema: schema }])
    expect(sent.tool_choice).toEqual({ type: "tool", name: "json_response" })
    expect(r.json.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "{\"verse\":\"Jesus wept.\"}" } })
    expect(r.json.choices[0].message.tool_calls).toBeUndefined()
    anthropic.reset([{
      type: "raw",
      body: sse([
        { type: "message_start", message: { id: "msg_4", usage: { input_tokens: 5, output_tokens: 1 } } },
        { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "toolu_3", name: "json_response", input: {} } },
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "{\"verse\": " } },
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "\"Amen.\"}" } },
        { type: "content_block_stop", index: 0 },
        { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 9 } },
        { type: "message_stop" }
      ])
    }])
    const stream = await server.client.chat.completions.create({ model: "claude", messages: [{ role: "user", content: "A verse" }], response_format: { type: "json_schema", json_schema: { name: "v", schema } }, stream: true })
    let content = ""
    let finish: string | null = null
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? ""
      finish = chunk.choices[0]?.finish_reason ?? finish
      expect(chunk.choices[0]?.delta.tool_calls).toBeUndefined()
    }
    expect(JSON.parse(content)).toEqual({ verse: "Amen." })
    expect(finish).toBe("stop")
  })

  it("Anthropic: fields it cannot honour are 400s naming them, before anything is sent", async () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [{ logprobs: true }, "logprobs"],
      [{ n: 2 }, "n"],
      [{ seed: 3 }, "seed"],
      [{ presence_penalty: 0.5 }, "presence_penalty"],
      [{ logit_bias: { "1": 2 } }, "logit_bias"],
      [{ audio: { voice: "alloy" } }, "audio"],
      [{ guided_regex: "a+" }, "guided_regex"],
      [{ response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "string" } } } }, "response_format.json_schema.schema"],
      [{ tools: TOOLS, response_format: { type: "json_object" } }, "response_format"],
      [{ messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{oops" } }] }] }, "messages[0].tool_calls[0].function.arguments"]
    ]
    for (const [extra, param] of cases) {
      anthropic.reset()
      const r = await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "x" }], ...extra })
      expect(r.status, `${param}: ${r.text}`).toBe(400)
      expect(r.json.error.param).toBe(param)
      expect(anthropic.requests).toHaveLength(0)
    }
  })
})
