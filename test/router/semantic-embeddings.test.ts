import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/**
 * The intent router embeds through the router, as /v1/embeddings requests are routed: a failing
 * deployment of its embedding group is retried on the group's other one, and the group answers
 * /v1/embeddings as well (it is an embedding group: chat is refused there).
 */
const embed = (text: string) => [text.includes("bug") ? 1 : 0, text.includes("poem") ? 1 : 0]

describe("semantic routing over the router's embeddings", () => {
  let broken: FakeUpstream, embedder: FakeUpstream, coder: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[broken, embedder, coder] = await Promise.all([
      startFakeUpstream([{ type: "status", status: 500 }]),
      startFakeUpstream([{ type: "embed", embed }]),
      startFakeUpstream([{ type: "json", content: "coder" }])
    ])
    server = await startRouterServer({
      model_list: [
        { ...openAiDeployment("embeddings", "e-broken", broken.url), litellm_params: { ...openAiDeployment("embeddings", "e-broken", broken.url).litellm_params, order: 1 } },
        { ...openAiDeployment("embeddings", "e-ok", embedder.url), litellm_params: { ...openAiDeployment("embeddings", "e-ok", embedder.url).litellm_params, order: 2 } },
        openAiDeployment("coding", "c", coder.url)
      ],
      router_settings: { num_retries: 1, retry_after: 0.001 },
      semantic_routing: { model: "auto", embedding_model: "embeddings", default_group: "coding", routes: [{ name: "code", group: "coding", utterances: ["a bug"], threshold: 0.9 }] }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([broken.close(), embedder.close(), coder.close()])
  })

  it("retries the embedding group's other deployment when the first fails", async () => {
    const r = await postChat(server.baseUrl, { model: "auto", messages: [{ role: "user", content: "There is a bug" }] })
    expect(r.status).toBe(200)
    expect(r.headers.get("x-inferline-route")).toBe("code")
    expect(broken.requests.length).toBeGreaterThan(0)
    expect(embedder.requests.map((q) => q.body.input)).toEqual([["a bug"], ["There is a bug"]])
  })

  it("the embedding group is an embedding group: it embeds, and refuses chat", async () => {
    const chat = await postChat(server.baseUrl, { model: "embeddings", messages: [{ role: "user", content: "hi" }] })
    expect(chat.status).toBe(400)
    const r = await fetch(`${server.baseUrl}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "embeddings", input: "a poem", encoding_format: "float" }) })
    expect(r.status).toBe(200)
    expect(((await r.json()) as any).data[0].embedding).toEqual([0, 1])
  })
})
