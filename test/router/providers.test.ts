import { Yaml } from "effect/encoding"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { MODEL, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

const anthropicMessage = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-x",
  content: [{ type: "text", text: "Bonjour" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 10, output_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 }
}

const anthropicEvents = [
  { type: "message_start", message: { id: "msg_2", usage: { input_tokens: 7, output_tokens: 1, cache_read_input_tokens: 50, cache_creation_input_tokens: 0 } } },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Bon" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "jour" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 2 } },
  { type: "message_stop" }
].map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)

/** A LiteLLM proxy config, as users write it: two groups and a fallback between them. */
const liteLlmYaml = (primary: string, secondary: string) => `
model_list:
  - model_name: gpt-main
    litellm_params:
      model: openai/primary-model
      api_base: ${primary}/v1
      api_key: os.environ/UPSTREAM_KEY
      rpm: 100
  - model_name: gpt-spare
    litellm_params:
      model: hosted_vllm/spare-model
      api_base: ${secondary}/v1
  - model_name: claude
    litellm_params:
      model: anthropic/claude-x
      api_base: ${secondary}
      api_key: sk-ant
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 1
  retry_after: 0
litellm_settings:
  fallbacks:
    - gpt-main: [gpt-spare]
`

describe("providers and a LiteLLM config", () => {
  let primary: FakeUpstream, secondary: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[primary, secondary] = await Promise.all([startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json" }])])
    server = await startRouterServer(Yaml.parse(liteLlmYaml(primary.url, secondary.url)))
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([primary.close(), secondary.close()])
  })

  it("a LiteLLM config with two groups and a fallback loads and routes as written", async () => {
    primary.script = [{ type: "json", content: "primary" }]
    const ok = await postChat(server.baseUrl, { model: "gpt-main", messages: [{ role: "user", content: "hi" }] })
    expect(ok.json.choices[0].message.content).toBe("primary")
    expect(primary.requests.at(-1)!.body.model).toBe("primary-model")
    primary.script = [{ type: "status", status: 500 }]
    secondary.script = [{ type: "json", content: "spare" }]
    const fell = await postChat(server.baseUrl, { model: "gpt-main", messages: [{ role: "user", content: "hi" }] })
    expect(fell.json.choices[0].message.content).toBe("spare")
    expect(fell.headers.get("x-inferline-deployment")).toBe("gpt-spare/0")
    expect(fell.headers.get("x-inferline-attempts")).toBe("3")
    expect(secondary.requests.at(-1)!.body.model).toBe("spare-model")
  })

  it("the official openai SDK through the router: chat, streaming, and the groups in /v1/models", async () => {
    primary.script = [{ type: "json", content: "via sdk" }]
    const completion = await server.client.chat.completions.create({ model: "gpt-main", messages: [{ role: "user", content: "hi" }] })
    expect(completion.choices[0].message.content).toBe("via sdk")
    expect(completion.usage?.total_tokens).toBe(7)
    primary.script = [{ type: "stream", chunks: ["s", "d", "k"] }]
    const stream = await server.client.chat.completions.create({ model: "gpt-main", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } })
    let text = ""
    let usage: unknown = null
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ""
      if (chunk.usage) usage = chunk.usage
    }
    expect(text).toBe("sdk")
    expect(usage).toMatchObject({ total_tokens: 7 })
    const models = await server.client.models.list()
    expect(models.data.map((m) => m.id)).toEqual([MODEL, "gpt-main", "gpt-spare", "claude"])
  })

  it("Anthropic: request translated (system, cache_control, max_tokens), response and usage mapped back", async () => {
    secondary.script = [{ type: "raw", contentType: "application/json", body: JSON.stringify(anthropicMessage) }]
    const r = await postChat(server.baseUrl, {
      model: "claude",
      messages: [
        { role: "system", content: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }] },
        { role: "user", content: "Hello" }
      ],
      stop: "END"
    })
    const sent = secondary.requests.at(-1)!
    expect(sent.path).toBe("/v1/messages")
    expect(sent.headers["x-api-key"]).toBe("sk-ant")
    expect(sent.headers["anthropic-version"]).toBe("2023-06-01")
    expect(sent.body).toEqual({
      model: "claude-x",
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 4096,
      stop_sequences: ["END"]
    })
    expect(r.json.object).toBe("chat.completion")
    expect(r.json.choices[0]).toMatchObject({ message: { role: "assistant", content: "Bonjour" }, finish_reason: "stop" })
    expect(r.json.usage).toMatchObject({ prompt_tokens: 130, completion_tokens: 3, total_tokens: 133, prompt_tokens_details: { cached_tokens: 100 } })
    expect(r.headers.get("x-inferline-deployment")).toBe("claude/0")
  })

  it("Anthropic streaming: events become OpenAI chunks, usage last when asked for", async () => {
    secondary.script = [{ type: "raw", body: anthropicEvents }]
    const r = await postChat(server.baseUrl, { model: "claude", messages: [{ role: "user", content: "Hello" }], stream: true, stream_options: { include_usage: true } })
    const data = r.text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6))
    expect(data.at(-1)).toBe("[DONE]")
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d))
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" })
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Bonjour")
    expect(chunks.at(-2).choices[0].finish_reason).toBe("length")
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 57, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 50 } } })
    expect(secondary.requests.at(-1)!.body.stream).toBe(true)
  })

  it("the WebSocket endpoint routes too: upstream chunks arrive as messages, then done", async () => {
    primary.script = [{ type: "stream", chunks: ["w", "s"] }]
    const ws = new WebSocket(`${server.baseUrl.replace("http", "ws")}/v1/ws`)
    const messages: Array<any> = []
    const done = new Promise<void>((resolve) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data))
        messages.push(m)
        if (m.type === "done" || m.type === "error") resolve()
      }
    })
    await new Promise<void>((resolve) => (ws.onopen = () => resolve()))
    ws.send(JSON.stringify({ type: "chat.completions", model: "gpt-main", messages: [{ role: "user", content: "hi" }] }))
    await done
    ws.close()
    expect(messages.at(-1)).toEqual({ type: "done" })
    expect(messages.slice(0, -1).map((m) => m.choices[0]?.delta?.content ?? "").join("")).toBe("ws")
    expect(primary.requests.at(-1)!.body.type).toBeUndefined()
  })
})
