import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MODEL, postJson, startTestServer, type TestServer } from "./support/server.ts"

/**
 * No silent drops (issue 19): every request field of OpenAI's chat completions API (the openai SDK
 * 7.59.0's ChatCompletionCreateParams, which follows the API reference) and of the legacy completions
 * API is either honoured by the served model or refused with a 400 naming it. The refusals are
 * enumerated here, each with a value a client could send; the accepted fields are sent too, to show they
 * are not refused.
 */
const CHAT_REFUSED: ReadonlyArray<readonly [string, unknown]> = [
  ["audio", { voice: "alloy", format: "wav" }],
  ["modalities", ["text", "audio"]],
  ["prediction", { type: "content", content: "draft" }],
  ["web_search_options", { search_context_size: "low" }],
  ["reasoning_effort", "high"],
  ["verbosity", "low"],
  ["moderation", { policy: "default" }],
  ["prompt_cache_options", { ttl: "1h" }],
  ["prompt_cache_retention", "24h"],
  ["functions", [{ name: "f", parameters: { type: "object" } }]],
  ["function_call", "auto"],
  ["store", true],
  ["service_tier", "flex"],
  // Fields of other APIs or servers that this one does not implement.
  ["best_of", 2],
  ["use_beam_search", true],
  ["guided_whitespace_pattern", " "],
  ["chat_template_kwargs", { enable_thinking: true }],
  ["echo", true],
  ["temprature", 0.5]
]

const CHAT_ACCEPTED: Readonly<Record<string, unknown>> = {
  user: "u-1",
  safety_identifier: "hash",
  metadata: { team: "a" },
  store: false,
  service_tier: "auto",
  prompt_cache_key: "k",
  prompt_cache_retention: "in_memory",
  modalities: ["text"],
  parallel_tool_calls: true,
  stream_options: null,
  logit_bias: { "5": 1 },
  logprobs: false,
  seed: 1,
  n: 1,
  presence_penalty: 0,
  frequency_penalty: 0,
  temperature: 1,
  top_p: 1,
  stop: ["\n\n"],
  response_format: { type: "text" },
  max_completion_tokens: 3
}

const COMPLETIONS_REFUSED: ReadonlyArray<readonly [string, unknown]> = [
  ["suffix", "the end"],
  ["best_of", 3],
  ["tools", [{ type: "function", function: { name: "f" } }]],
  ["messages", [{ role: "user", content: "x" }]],
  ["stream_options", { include_obfuscation: true }]
]

describe("request fields the served model cannot honour are 400s naming them", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server?.close())

  it("chat: each refused field, alone in an otherwise valid request", async () => {
    for (const [field, value] of CHAT_REFUSED) {
      const r = await postJson(`${server.baseUrl}/v1/chat/completions`, { model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2, [field]: value })
      expect(r.status, `${field}: ${r.text}`).toBe(400)
      expect(r.json.error.param, field).toBe(field)
      expect(r.json.error.type).toBe("invalid_request_error")
      expect(r.json.error.message, field).toMatch(field === "temprature" ? /Unrecognized request argument supplied: temprature/ : /\S/)
    }
  })

  it("chat: the accepted fields, all at once, are a 200", async () => {
    const r = await postJson(`${server.baseUrl}/v1/chat/completions`, { model: MODEL, messages: [{ role: "user", content: "hi" }], ...CHAT_ACCEPTED })
    expect(r.status, r.text).toBe(200)
  })

  it("chat: message fields and stream options the server cannot honour", async () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [{ messages: [{ role: "user", content: "hi", audio: { id: "a" } }] }, "messages[0].audio"],
      [{ messages: [{ role: "assistant", content: "x", function_call: { name: "f", arguments: "{}" } }] }, "messages[0].function_call"],
      [{ messages: [{ role: "function", name: "f", content: "x" }] }, "messages[0].role"],
      [{ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://x/y.png" } }] }] }, "messages[0].content[0]"],
      [{ messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_obfuscation: true } }, "stream_options.include_obfuscation"],
      [{ messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { chunk_size: 3 } }, "stream_options.chunk_size"],
      [{ messages: [{ role: "user", content: "hi" }], response_format: { type: "xml" } }, "response_format.type"]
    ]
    for (const [body, param] of cases) {
      const r = await postJson(`${server.baseUrl}/v1/chat/completions`, { model: MODEL, max_tokens: 2, ...body })
      expect(r.status, `${param}: ${r.text}`).toBe(400)
      expect(r.json.error.param).toBe(param)
    }
  })

  it("legacy completions: each refused field; best_of equal to n is accepted", async () => {
    for (const [field, value] of COMPLETIONS_REFUSED) {
      const r = await postJson(`${server.baseUrl}/v1/completions`, { model: MODEL, prompt: "In the beginning", max_tokens: 2, [field]: value })
      expect(r.status, `${field}: ${r.text}`).toBe(400)
      expect(r.json.error.param).toBe(field === "stream_options" ? "stream_options.include_obfuscation" : field)
    }
    const ok = await postJson(`${server.baseUrl}/v1/completions`, { model: MODEL, prompt: "In the beginning", max_tokens: 10, n: 2, best_of: 2, suffix: "", guided_choice: ["yes", "no"] })
    expect(ok.status, ok.text).toBe(200)
    for (const c of ok.json.choices) {
      expect(["yes", "no"]).toContain(c.text)
      expect(c.finish_reason).toBe("stop")
    }
  })
})
