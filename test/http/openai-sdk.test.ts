import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MODEL, postJson, startTestServer, type TestServer } from "./support/server.ts"

// The official OpenAI SDK against the real server: what a client written for OpenAI sees.
describe("OpenAI SDK against the server", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server?.close())

  const user = (content: string) => [{ role: "user" as const, content }]

  it("chat completion: message, finish_reason, usage, ids", async () => {
    const r = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 6 })
    expect(r.object).toBe("chat.completion")
    expect(r.id).toMatch(/^chatcmpl-/)
    expect(r.model).toBe(MODEL)
    expect(Math.abs(r.created - Date.now() / 1000)).toBeLessThan(60)
    expect(r.choices).toHaveLength(1)
    expect(r.choices[0].message.role).toBe("assistant")
    expect(typeof r.choices[0].message.content).toBe("string")
    expect(["stop", "length"]).toContain(r.choices[0].finish_reason)
    expect(r.usage!.prompt_tokens).toBeGreaterThan(0)
    expect(r.usage!.completion_tokens).toBeGreaterThan(0)
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(6)
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens)
    expect(r.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(0)
  })

  it("chat content as a list of text parts is the same prompt as the string", async () => {
    const a = await server.client.chat.completions.create({ model: MODEL, messages: user("And God said"), max_tokens: 4, temperature: 0 })
    const b = await server.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [{ type: "text", text: "And God " }, { type: "text", text: "said" }] }],
      max_tokens: 4,
      temperature: 0
    })
    expect(b.usage!.prompt_tokens).toBe(a.usage!.prompt_tokens)
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content)
  })

  it("streaming chat: role first, content deltas, finish_reason, usage chunk last", async () => {
    const stream = await server.client.chat.completions.create({
      model: MODEL,
      messages: user("In the beginning"),
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true }
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks[0].choices[0].delta.role).toBe("assistant")
    expect(chunks[0].choices[0].delta.content).toBe("")
    const last = chunks[chunks.length - 1]
    expect(last.choices).toEqual([])
    expect(last.usage!.completion_tokens).toBeGreaterThan(0)
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason != null)
    expect(finish).toHaveLength(1)
    // Streamed and whole responses of the same greedy request carry the same text.
    const whole = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 5, temperature: 0 })
    const streamedGreedy = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 5, temperature: 0, stream: true })
    let greedyText = ""
    for await (const c of streamedGreedy) greedyText += c.choices[0]?.delta.content ?? ""
    expect(greedyText).toBe(whole.choices[0].message.content)
  })

  it("legacy completions: text prompt, token-id prompt, several prompts, streaming", async () => {
    const r = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 5, temperature: 0 })
    expect(r.object).toBe("text_completion")
    expect(r.id).toMatch(/^cmpl-/)
    expect(r.choices[0].text.length).toBeGreaterThan(0)

    const tokens = (await postJson(`${server.baseUrl}/tokenize`, { prompt: "And God said" })).json.tokens
    const byIds = await server.client.completions.create({ model: MODEL, prompt: tokens, max_tokens: 5, temperature: 0 })
    expect(byIds.choices[0].text).toBe(r.choices[0].text)

    const multi = await server.client.completions.create({ model: MODEL, prompt: ["And God said", "In the beginning"], max_tokens: 3, n: 2, temperature: 0 })
    expect(multi.choices.map((c) => c.index)).toEqual([0, 1, 2, 3])
    expect(multi.choices[0].text).toBe(multi.choices[1].text) // greedy: both choices of a prompt agree
    expect(multi.usage!.completion_tokens).toBeGreaterThanOrEqual(4)
    expect(multi.usage!.completion_tokens).toBeLessThanOrEqual(4 * 3)
    // Each prompt counts once in prompt_tokens, whatever n is.
    const single = await server.client.completions.create({ model: MODEL, prompt: ["And God said", "In the beginning"], max_tokens: 1 })
    expect(multi.usage!.prompt_tokens).toBe(single.usage!.prompt_tokens)

    const stream = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 5, temperature: 0, stream: true })
    let streamed = ""
    for await (const c of stream) streamed += c.choices[0]?.text ?? ""
    expect(streamed).toBe(r.choices[0].text)
  })

  it("echo returns the prompt before the completion", async () => {
    const r = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 3, echo: true, temperature: 0 })
    expect(r.choices[0].text.startsWith("And God said")).toBe(true)
  })

  it("usage reports prefix-cache hits for a repeated long prompt", async () => {
    const prompt = "And God said, Let there be light: and there was light. ".repeat(10)
    const first = await server.client.completions.create({ model: MODEL, prompt, max_tokens: 2 })
    const second = await server.client.completions.create({ model: MODEL, prompt, max_tokens: 2 })
    expect(first.usage!.prompt_tokens).toBeGreaterThan(64)
    expect(second.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0)
    expect(second.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(second.usage!.prompt_tokens)
  })

  it("n > 1 returns n choices, indexed, and streams them interleaved by index", async () => {
    const r = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 4, n: 3, seed: 1 })
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2])
    const stream = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 4, n: 2, stream: true })
    const roles = new Set<number>()
    const finished = new Set<number>()
    for await (const c of stream) {
      for (const choice of c.choices) {
        if (choice.delta.role === "assistant") roles.add(choice.index)
        if (choice.finish_reason != null) finished.add(choice.index)
      }
    }
    expect([...roles].sort()).toEqual([0, 1])
    expect([...finished].sort()).toEqual([0, 1])
  })

  it("stop strings end the choice and are left out", async () => {
    const free = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 12, temperature: 0 })
    const text = free.choices[0].text
    // Stop at the first character the greedy continuation produces after its first one.
    const stop = text.trim().slice(1, 2) || " "
    const r = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 12, temperature: 0, stop: [stop] })
    expect(r.choices[0].finish_reason).toBe("stop")
    expect(r.choices[0].text).toBe(text.slice(0, text.indexOf(stop)))
  })

  it("chat logprobs with top_logprobs", async () => {
    const r = await server.client.chat.completions.create({ model: MODEL, messages: user("In the beginning"), max_tokens: 3, logprobs: true, top_logprobs: 2 })
    const content = r.choices[0].logprobs!.content!
    expect(content).toHaveLength(r.usage!.completion_tokens)
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0)
      expect(t.top_logprobs).toHaveLength(2)
      expect(t.top_logprobs[0].logprob).toBeGreaterThanOrEqual(t.top_logprobs[1].logprob)
      expect(t.bytes).toEqual(Array.from(new TextEncoder().encode(t.token)))
    }
    expect(content.map((t) => t.token).join("")).toContain(r.choices[0].message.content!.trim().slice(0, 3))
  })

  it("legacy logprobs: tokens, token_logprobs, top_logprobs, text_offset; echo adds the prompt's", async () => {
    const r = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 3, logprobs: 2, temperature: 0 })
    const lp = r.choices[0].logprobs!
    expect(lp.tokens).toHaveLength(3)
    expect(lp.token_logprobs).toHaveLength(3)
    expect(lp.top_logprobs).toHaveLength(3)
    expect(lp.text_offset![0]).toBe(0)
    // Greedy: the chosen token is the most likely one.
    expect(Math.max(...Object.values(lp.top_logprobs![0]!))).toBeCloseTo(lp.token_logprobs![0]!, 9)

    const echoed = await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 2, logprobs: 1, echo: true, temperature: 0 })
    const e = echoed.choices[0].logprobs!
    expect(e.tokens!.length).toBe(echoed.usage!.prompt_tokens + 2)
    expect(e.token_logprobs![0]).toBeNull() // the first prompt token has no context
    expect(e.token_logprobs![1]).toBeLessThanOrEqual(0)
    expect(e.tokens!.slice(0, echoed.usage!.prompt_tokens).join("")).toBe("And God said")
  })

  it("return_tokens_as_token_ids renders logprob tokens as token_id:N", async () => {
    const r = await server.client.chat.completions.create({
      model: MODEL,
      messages: user("hi"),
      max_tokens: 2,
      logprobs: true,
      // @ts-expect-error vLLM extra
      return_tokens_as_token_ids: true
    })
    for (const t of r.choices[0].logprobs!.content!) expect(t.token).toMatch(/^token_id:\d+$/)
  })

  it("seed makes sampling reproducible; different seeds differ", async () => {
    const ask = (seed: number) =>
      server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 16, temperature: 1, seed, ignore_eos: true } as never)
        .then((r: any) => r.choices[0].text as string)
    const [a, b, c] = await Promise.all([ask(42), ask(42), ask(7)])
    expect(a).toBe(b)
    expect(c).not.toBe(a)
  })

  it("lists the served model", async () => {
    const models = await server.client.models.list()
    expect(models.data.map((m) => m.id)).toEqual([MODEL])
  })
})
