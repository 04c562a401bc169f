import OpenAI from "openai"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { startTracedServe, type TracedServe } from "../support/traced-serve.ts"

/**
 * POST /v1/embeddings as a user runs it: `inferline serve` with --pooling and a router config whose
 * group `remote-embed` has two OpenAI-compatible embedding deployments (model_info.mode: embedding),
 * called with the official openai SDK. Each answer is checked for its vectors, its usage, its ledger
 * row and its GenAI span.
 */
const MASTER = "sk-master-embeddings"
const HIDDEN = 256

/** The fake upstreams' embedding of a text: a few numbers derived from it (not unit length). */
const fakeEmbed = (text: string) => [text.length, text.charCodeAt(0) / 7, 0.1, -2.5]

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0, na = 0, nb = 0
  for (let i = 0; i < a.length; i++) (dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i])
  return dot / Math.sqrt(na * nb)
}

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(body) })
    .then(async (r) => ({ status: r.status, headers: r.headers, json: (await r.json()) as any }))

describe("/v1/embeddings, served", () => {
  let upstreams: Array<FakeUpstream>
  let served: TracedServe
  let url: string
  let client: OpenAI
  beforeAll(async () => {
    upstreams = await Promise.all([startFakeUpstream([{ type: "embed", embed: fakeEmbed }]), startFakeUpstream([{ type: "embed", embed: fakeEmbed }])])
    served = await startTracedServe({
      master: MASTER,
      args: ["--pooling", "mean"],
      config: [
        "model_list:",
        ...upstreams.map((u, i) =>
          `  - { model_name: remote-embed, litellm_params: { model: openai/text-embedding-3-small, api_base: "${u.url}/v1", prices: { input: 0.02 } }, model_info: { id: embed-${i}, mode: embedding } }`),
        `  - { model_name: remote-chat, litellm_params: { model: openai/chat, api_base: "${upstreams[0].url}/v1" } }`,
        "router_settings: { num_retries: 1 }"
      ]
    })
    url = served.url
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: MASTER, maxRetries: 0 })
  }, 60_000)
  afterAll(async () => {
    await served.close()
    await Promise.all(upstreams.map((u) => u.close()))
  })
  beforeEach(() => upstreams.forEach((u) => u.reset([{ type: "embed", embed: fakeEmbed }])))

  const ledgerRow = (requestId: string) => served.ledgerRow(requestId)
  const spanOf = (requestId: string) => served.spanOf(requestId)

  const text = "In the beginning God created the heaven and the earth."

  it("embeds with the served model: unit vectors of the hidden size, base64 (the SDK's default) and float the same numbers", async () => {
    const { data, response } = await client.embeddings.create({ model: "served", input: text }).withResponse()
    const decoded = data.data[0].embedding
    expect(decoded).toHaveLength(HIDDEN)
    expect(Math.abs(cosine(decoded, decoded) - 1)).toBeLessThan(1e-6)
    expect(Math.abs(Math.hypot(...decoded) - 1)).toBeLessThan(1e-6)
    const floats = await client.embeddings.create({ model: "served", input: text, encoding_format: "float" })
    expect(floats.data[0].embedding).toEqual(Array.from(decoded))
    expect(floats.object).toBe("list")
    expect(floats.model).toBe("served")
    // The usage is the tokenized input (BOS included), as /tokenize counts it.
    const count = await fetch(`${url}/tokenize`, { method: "POST", headers: { authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ prompt: text }) }).then((r) => r.json() as Promise<any>)
    expect(floats.usage).toEqual({ prompt_tokens: count.count, total_tokens: count.count })
    const requestId = response.headers.get("x-request-id")!
    expect(response.headers.get("x-inferline-deployment")).toBe("local")
    const row = await ledgerRow(requestId)
    expect(row).toMatchObject({ operation: "embeddings", model_group: "served", deployment: "local", status: "ok", input_tokens: count.count, output_tokens: 0 })
    const span = await spanOf(requestId)
    expect(span.name).toBe("embeddings served")
    expect(span.attributes["gen_ai.operation.name"]).toBe("embeddings")
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(count.count)
  })

  it("gives a text the same embedding alone and batched with others (texts and token ids)", async () => {
    const others = ["And God said, Let there be light: and there was light.", "Blessed are the meek: for they shall inherit the earth."]
    const alone = await client.embeddings.create({ model: "served", input: text, encoding_format: "float" })
    const batched = await client.embeddings.create({ model: "served", input: [others[0], text, others[1]], encoding_format: "float" })
    expect(batched.data.map((d) => d.index)).toEqual([0, 1, 2])
    expect(batched.data[1].embedding).toEqual(alone.data[0].embedding)
    expect(cosine(batched.data[0].embedding, batched.data[1].embedding)).toBeLessThan(0.999999)
    const ids = await fetch(`${url}/tokenize`, { method: "POST", headers: { authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ prompt: text }) }).then((r) => r.json() as Promise<any>)
    const fromIds = await client.embeddings.create({ model: "served", input: [ids.tokens, ids.tokens], encoding_format: "float" })
    expect(fromIds.data[0].embedding).toEqual(alone.data[0].embedding)
    expect(fromIds.data[1].embedding).toEqual(alone.data[0].embedding)
  })

  it("forwards to the group's embedding deployments and answers in the client's encoding", async () => {
    const input = ["first text", "second one here"]
    const { data, response } = await client.embeddings.create({ model: "remote-embed", input, user: "alice" }).withResponse()
    expect(data.data.map((d) => Array.from(d.embedding))).toEqual(input.map((t) => fakeEmbed(t).map(Math.fround)))
    expect(data.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 })
    const sent = upstreams.flatMap((u) => u.requests)
    expect(sent).toHaveLength(1)
    // Asked for floats (encoded here), under the deployment's model name, nothing the gateway reads.
    expect(sent[0].path).toBe("/v1/embeddings")
    expect(sent[0].body).toEqual({ model: "text-embedding-3-small", input, user: "alice" })
    const deployment = response.headers.get("x-inferline-deployment")!
    expect(["embed-0", "embed-1"]).toContain(deployment)
    const row = await ledgerRow(response.headers.get("x-request-id")!)
    expect(row).toMatchObject({ operation: "embeddings", model_group: "remote-embed", deployment, provider: "openai", input_tokens: 5, output_tokens: 0, end_user: "alice" })
    expect(row.cost).toBeCloseTo(5 * 0.02 / 1e6, 12)
    expect((await spanOf(response.headers.get("x-request-id")!)).name).toBe("embeddings remote-embed")
    const floats = await client.embeddings.create({ model: "remote-embed", input: "abc", encoding_format: "float", dimensions: 2 })
    expect(floats.data[0].embedding).toEqual(fakeEmbed("abc").slice(0, 2).map(Math.fround))
  })

  it("falls back to the group's other deployment when one fails", async () => {
    upstreams[0].reset([{ type: "status", status: 500 }])
    upstreams[1].reset([{ type: "status", status: 500 }])
    const failed = await post(url, { model: "remote-embed", input: "x" })
    expect(failed.status).toBe(502)
    expect(failed.json.error.type).toBe("server_error")
    upstreams[0].reset([{ type: "status", status: 500 }])
    upstreams[1].reset([{ type: "embed", embed: fakeEmbed }])
    for (let i = 0; i < 4; i++) {
      const ok = await post(url, { model: "remote-embed", input: "y" })
      expect(ok.status).toBe(200)
      expect(ok.headers.get("x-inferline-deployment")).toBe("embed-1")
    }
  })

  it("refuses what it cannot do, in OpenAI's error shape, naming the field", async () => {
    const cases: Array<[unknown, number, string | null, string | null]> = [
      [{ input: text, normalize: false }, 400, "normalize", "unsupported_parameter"],
      [{ input: text, dimensions: 64 }, 400, "dimensions", "unsupported_parameter"],
      [{ input: [] }, 400, "input", null],
      [{ input: ["a", ""] }, 400, "input[1]", null],
      [{ input: 3 }, 400, "input", null],
      [{ input: [[5, 999999]] }, 400, "input[0]", null],
      [{ input: text, encoding_format: "int8" }, 400, "encoding_format", null],
      [{ model: "nope", input: text }, 404, "model", "model_not_found"],
      [{ model: "remote-chat", input: text }, 400, "model", "unsupported_endpoint"]
    ]
    for (const [body, status, param, code] of cases) {
      const r = await post(url, body)
      expect([r.status, r.json.error?.param, r.json.error?.code], JSON.stringify(body)).toEqual([status, param, code])
      expect(typeof r.json.error.message).toBe("string")
    }
    await expect(client.embeddings.create({ model: "served", input: text, dimensions: 3 })).rejects.toBeInstanceOf(OpenAI.BadRequestError)
    // An embedding deployment does not take chat.
    const chat = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ model: "remote-embed", messages: [{ role: "user", content: "hi" }] }) })
    expect(chat.status).toBe(400)
    expect(upstreams.flatMap((u) => u.requests)).toHaveLength(0)
  })
})
