import { zodFunction, zodResponseFormat } from "openai/helpers/zod"
import type { ChatCompletionTool } from "openai/resources/chat/completions"
import { jsonSchemaValidator } from "../support/ajv.ts"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { z } from "zod"
import { MODEL, postJson, startTestServer, type TestServer } from "./support/server.ts"
import { pool } from "../support/pool.ts"

const WEATHER_PARAMETERS: Record<string, unknown> = {
  type: "object",
  properties: { city: { type: "string", minLength: 1, maxLength: 20 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false
}
const TOOLS: Array<ChatCompletionTool> = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city", parameters: WEATHER_PARAMETERS, strict: true } },
  { type: "function", function: { name: "find_verse", description: "A verse of the KJV", parameters: { type: "object", properties: { book: { enum: ["Genesis", "John"] }, chapter: { type: "integer", minimum: 1, maximum: 50 } }, required: ["book", "chapter"], additionalProperties: false } } }
]
const ajv = jsonSchemaValidator({ strict: true })
const validators = Object.fromEntries(TOOLS.map((t) => [t.type === "function" ? t.function.name : "", ajv.compile(t.type === "function" ? t.function.parameters! : {})]))
const user = (content: string) => [{ role: "user" as const, content }]

describe("tool calling and the OpenAI SDK's helpers against the server", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server?.close())

  // One call per answer (parallel_tool_calls false) bounds the answer's length: this model hardly ever
  // ends a list of calls by itself, and a call cut by max_tokens could not parse.
  it("tool_choice required: 100/100 seeded samples call a tool with arguments that parse and match its schema; streamed deltas reassemble to the same calls", async () => {
    const request = (seed: number) => ({ model: MODEL, messages: user("What is the weather in Paris?"), tools: TOOLS, tool_choice: "required" as const, parallel_tool_calls: false, temperature: 1, seed, max_tokens: 400 })
    const whole = await pool(100, 16, (seed) => server.client.chat.completions.create(request(seed)))
    const streamed = await pool(100, 16, async (seed) => {
      const calls: Array<{ id: string; name: string; arguments: string }> = []
      let finish: string | null = null
      let content = ""
      for await (const chunk of await server.client.chat.completions.create({ ...request(seed), stream: true })) {
        const choice = chunk.choices[0]
        if (choice === undefined) continue
        content += choice.delta.content ?? ""
        finish = choice.finish_reason ?? finish
        for (const d of choice.delta.tool_calls ?? []) {
          if (d.id !== undefined) {
            // OpenAI's order: the first delta of a call has its index, id, type and name.
            expect(d.index).toBe(calls.length)
            expect(d.type).toBe("function")
            calls.push({ id: d.id, name: d.function!.name!, arguments: d.function?.arguments ?? "" })
          } else calls[d.index].arguments += d.function?.arguments ?? ""
        }
      }
      return { calls, finish, content }
    })
    for (let seed = 0; seed < 100; seed++) {
      const choice = whole[seed].choices[0]
      expect(choice.finish_reason).toBe("tool_calls")
      expect(choice.message.content).toBeNull()
      const calls = choice.message.tool_calls!
      expect(calls).toHaveLength(1)
      for (const call of calls) {
        expect(call.type).toBe("function")
        if (call.type !== "function") continue
        expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/)
        const args = JSON.parse(call.function.arguments)
        expect(validators[call.function.name](args), `${call.function.name} ${call.function.arguments}`).toBe(true)
      }
      expect(streamed[seed].finish).toBe("tool_calls")
      expect(streamed[seed].content).toBe("")
      expect(streamed[seed].calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(calls.map((c) => (c.type === "function" ? { name: c.function.name, arguments: c.function.arguments } : null)))
    }
  })

  it("parallel calls (the default): several calls per answer, each complete one parses and matches its schema", async () => {
    const answers = await pool(20, 10, (seed) => server.client.chat.completions.create({ model: MODEL, messages: user("Weather in Paris and Rome?"), tools: TOOLS, tool_choice: "required", seed, max_tokens: 250 }))
    for (const a of answers) {
      const calls = a.choices[0].message.tool_calls!
      // A call cut short by max_tokens is the last one, and only when the answer ended by length.
      const complete = a.choices[0].finish_reason === "length" ? calls.slice(0, -1) : calls
      for (const call of complete) if (call.type === "function") expect(validators[call.function.name](JSON.parse(call.function.arguments)), call.function.arguments).toBe(true)
    }
    expect(answers.some((a) => a.choices[0].message.tool_calls!.length >= 2)).toBe(true)
  })

  it("a named tool_choice calls that function; none gives text without tool_calls", async () => {
    for (let seed = 0; seed < 10; seed++) {
      const named = await server.client.chat.completions.create({ model: MODEL, messages: user("Find a verse"), tools: TOOLS, tool_choice: { type: "function", function: { name: "find_verse" } }, parallel_tool_calls: false, seed, max_tokens: 300 })
      expect(named.choices[0].finish_reason).toBe("tool_calls")
      const calls = named.choices[0].message.tool_calls!
      expect(calls.map((c) => (c.type === "function" ? c.function.name : ""))).toEqual(["find_verse"])
    }
    const none = await server.client.chat.completions.create({ model: MODEL, messages: user("Weather?"), tools: TOOLS, tool_choice: "none", seed: 1, max_tokens: 20 })
    expect(none.choices[0].message.tool_calls).toBeUndefined()
    expect(typeof none.choices[0].message.content).toBe("string")
  })

  it("tool_choice auto: answers are text or well-formed calls (the grammar still guards the calls)", async () => {
    const answers = await pool(20, 8, (seed) => server.client.chat.completions.create({ model: MODEL, messages: user("Weather in Rome?"), tools: TOOLS, seed, max_tokens: 60 }))
    for (const a of answers) {
      const m = a.choices[0].message
      expect(m.content ?? "").not.toContain("<tool_call>")
      for (const call of m.tool_calls ?? []) if (call.type === "function") expect(validators[call.function.name](JSON.parse(call.function.arguments))).toBe(true)
    }
  })

  it("the SDK's chat.completions.parse with a zod schema returns the parsed object", async () => {
    const Verse = z.object({ book: z.enum(["Genesis", "Exodus", "John"]), chapter: z.number().int().min(1).max(50), text: z.string().max(60), tags: z.array(z.string().max(10)).max(3), note: z.string().max(20).nullable() })
    for (let seed = 0; seed < 5; seed++) {
      const completion = await server.client.chat.completions.parse({ model: MODEL, messages: user("Quote a verse as JSON"), response_format: zodResponseFormat(Verse, "verse"), seed, max_tokens: 400 })
      const parsed = completion.choices[0].message.parsed
      expect(parsed).not.toBeNull()
      expect(Verse.parse(parsed)).toEqual(parsed)
    }
    // Tools from zod with a forced call: parsed_arguments come back typed.
    const Weather = z.object({ city: z.string().max(20), unit: z.enum(["celsius", "fahrenheit"]) })
    const withTool = await server.client.chat.completions.parse({ model: MODEL, messages: user("Weather in Oslo"), tools: [zodFunction({ name: "get_weather", parameters: Weather })], tool_choice: "required", parallel_tool_calls: false, seed: 3, max_tokens: 300 })
    const call = withTool.choices[0]!.message.tool_calls![0]!
    expect(call.type).toBe("function")
    if (call.type === "function") expect(Weather.parse(call.function.parsed_arguments)).toEqual(call.function.parsed_arguments)
  })

  it("the SDK's runTools loop runs the functions and sends their results back (tool messages through the template), whole and streamed", async () => {
    for (const stream of [false, true]) {
      const seen: Array<unknown> = []
      const params = {
        model: MODEL,
        messages: user("What is the weather in Paris and in Rome?"),
        tools: [{ type: "function" as const, function: { name: "get_weather", description: "Current weather in a city", parameters: WEATHER_PARAMETERS, parse: JSON.parse, function: (args: unknown) => (seen.push(args), { temperature: 21, sky: "clear" }) } }],
        tool_choice: "required" as const,
        parallel_tool_calls: false,
        seed: 7,
        max_tokens: 300
      }
      const runner = stream
        ? server.client.chat.completions.runTools({ ...params, stream: true }, { maxChatCompletions: 3 })
        : server.client.chat.completions.runTools(params, { maxChatCompletions: 3 })
      await runner.done()
      // Three completions, each calling the tool; every call's result went back as a tool message.
      expect(seen.length).toBeGreaterThanOrEqual(3)
      for (const args of seen) expect(validators.get_weather(args)).toBe(true)
      const toolMessages = runner.messages.filter((m) => m.role === "tool")
      expect(toolMessages.length).toBe(seen.length)
      const assistantCalls = runner.messages.flatMap((m) => (m.role === "assistant" ? m.tool_calls ?? [] : []))
      expect(toolMessages.map((m) => (m.role === "tool" ? m.tool_call_id : ""))).toEqual(assistantCalls.map((c) => c.id))
    }
    // auto: the loop ends when the model answers without a call. The runner refuses an answer cut by
    // max_tokens, so this seed is one where the bundled model ends its answer by itself (deterministic).
    const auto = server.client.chat.completions.runTools({ model: MODEL, messages: user("Hello"), tools: [{ type: "function", function: { name: "get_weather", description: "Current weather in a city", parameters: WEATHER_PARAMETERS, parse: JSON.parse, function: () => "sunny" } }], seed: 0, max_tokens: 200 })
    const final = await auto.finalChatCompletion()
    expect(final.choices[0].finish_reason).toBe("stop")
  })

  it("a conversation with assistant tool calls and tool results is accepted; bad ones are 400s naming the field", async () => {
    const ok = await postJson(`${server.baseUrl}/v1/chat/completions`, {
      model: MODEL,
      tools: TOOLS,
      max_tokens: 5,
      messages: [
        { role: "user", content: "Weather?" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\",\"unit\":\"celsius\"}" } }] },
        { role: "tool", tool_call_id: "call_1", content: "21 and clear" }
      ]
    })
    expect(ok.status, ok.text).toBe(200)
    const bad = async (body: Record<string, unknown>, param: string) => {
      const r = await postJson(`${server.baseUrl}/v1/chat/completions`, { model: MODEL, max_tokens: 5, ...body })
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(r.json.error.param).toBe(param)
    }
    await bad({ messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{oops" } }] }] }, "messages[0].tool_calls[0].function.arguments")
    await bad({ messages: [{ role: "tool", content: "x" }] }, "messages[0].tool_call_id")
    await bad({ messages: user("x"), tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice.function.name")
    await bad({ messages: user("x"), tool_choice: "required" }, "tool_choice")
    await bad({ messages: user("x"), tools: [{ type: "function", function: { name: "bad name" } }] }, "tools[0].function.name")
    await bad({ messages: user("x"), tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", not: {} } } } } }] }, "tools[0].function.parameters.properties.a.not")
    await bad({ messages: user("x"), tools: [{ type: "custom", custom: { name: "c" } }] }, "tools[0].type")
    await bad({ messages: user("x"), response_format: { type: "json_object" }, guided_regex: "a+" }, "guided_regex")
    // Nested deeper than the compilers recurse: a 400, not a 500 (the body is written by hand: too deep for JSON.stringify).
    const deep = `${"{\"type\":\"array\",\"items\":".repeat(20_000)}{"type":"integer"}${"}".repeat(20_000)}`
    const r = await postJson(`${server.baseUrl}/v1/chat/completions`, `{"model":"${MODEL}","max_tokens":5,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"deep","schema":${deep}}}}`, true)
    expect(r.status, r.text).toBe(400)
    expect(r.json.error.param).toBe("response_format.json_schema.schema")
    await bad({ messages: user("x"), guided_grammar: `root ::= ${"(".repeat(50_000)}"a"${")".repeat(50_000)}` }, "guided_grammar")
  })
})
