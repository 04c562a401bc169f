import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/** A toy embedding: which of three topics' words the text mentions. */
const TOPICS = [["code", "bug", "function", "compile"], ["poem", "rhyme", "verse"], ["weather", "rain", "sunny"]]
const embed = (text: string) => TOPICS.map((words) => words.filter((w) => text.toLowerCase().includes(w)).length)

describe("semantic (intent) routing", () => {
  let embedder: FakeUpstream, coder: FakeUpstream, writer: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[embedder, coder, writer] = await Promise.all([
      startFakeUpstream([{ type: "embed", embed }]),
      startFakeUpstream([{ type: "json", content: "coder" }]),
      startFakeUpstream([{ type: "json", content: "writer" }])
    ])
    server = await startRouterServer({
      model_list: [openAiDeployment("embeddings", "e", embedder.url), openAiDeployment("coding", "c", coder.url), openAiDeployment("writing", "w", writer.url)],
      semantic_routing: {
        model: "auto",
        embedding_model: "embeddings",
        default_group: "writing",
        routes: [
          { name: "code", group: "coding", utterances: ["fix this bug in my function", "why does it not compile"], threshold: 0.7 },
          { name: "poetry", group: "writing", utterances: ["write a poem", "a verse that rhymes"], threshold: 0.7 }
        ]
      }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([embedder.close(), coder.close(), writer.close()])
  })

  it("picks the group of the closest route above its threshold, else the default group", async () => {
    const code = await postChat(server.baseUrl, { model: "auto", messages: [{ role: "system", content: "poem" }, { role: "user", content: "My function has a bug" }] })
    expect(code.json.choices[0].message.content).toBe("coder")
    expect(code.headers.get("x-inferline-route")).toBe("code")
    const poem = await postChat(server.baseUrl, { model: "auto", messages: [{ role: "user", content: "A short poem please" }] })
    expect(poem.headers.get("x-inferline-route")).toBe("poetry")
    const other = await postChat(server.baseUrl, { model: "auto", messages: [{ role: "user", content: "Is it sunny?" }] })
    expect(other.json.choices[0].message.content).toBe("writer")
    expect(other.headers.get("x-inferline-route")).toBeNull()
    // the utterances were embedded once (one batch), then one embedding per request
    expect(embedder.requests.map((r) => r.body.input.length)).toEqual([4, 1, 1, 1])
  })
})
