import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cosine } from "../../../src/cache/semantic/embedder.ts"
import { makeDeploymentEmbedder } from "../../../src/router/deployment-embedder.ts"
import { makeUpstreamPool } from "../../../src/router/providers/upstream-http.ts"
import { startFakeUpstream, type FakeUpstream } from "../../../src/router/testing/fake-upstream.ts"

const embed = (text: string) => [text.length, text.split(" ").length, 1]

describe("the deployment embedder (OpenAI-compatible /embeddings)", () => {
  let upstream: FakeUpstream
  const pool = makeUpstreamPool(4)
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "embed", embed }])
  })
  afterAll(async () => {
    pool.close()
    await upstream.close()
  })
  const embedder = () => makeDeploymentEmbedder({ id: "emb", apiBase: upstream.url, model: "text-embedding-test", headers: { authorization: "Bearer sk-test" }, pool })

  it("posts the texts with the model and headers and returns unit vectors in order", async () => {
    upstream.reset([{ type: "embed", embed }])
    const e = embedder()
    const [a, b] = await Effect.runPromise(e.embed(["one two three", "four"]))
    expect(upstream.requests[0].path).toBe("/embeddings")
    expect(upstream.requests[0].body).toEqual({ model: "text-embedding-test", input: ["one two three", "four"] })
    expect(upstream.requests[0].headers.authorization).toBe("Bearer sk-test")
    expect(Math.abs(cosine(a, a) - 1)).toBeLessThan(1e-6)
    expect(cosine(a, Float32Array.from(embed("one two three")))).toBeCloseTo(1, 6)
    expect(cosine(b, Float32Array.from(embed("four")))).toBeCloseTo(1, 6)
    expect(e.dimensions()).toBe(3)
  })

  it("fails with an EmbedderError on an error status or a body that is not embeddings", async () => {
    upstream.reset([{ type: "status", status: 500, body: { error: { message: "boom" } } }])
    const failed = await Effect.runPromise(Effect.flip(embedder().embed(["x"])))
    expect(failed).toMatchObject({ _tag: "EmbedderError", reason: "unavailable" })
    upstream.reset([{ type: "raw", status: 200, contentType: "application/json", body: JSON.stringify({ data: [{ index: 0, embedding: ["a"] }] }) }])
    const bad = await Effect.runPromise(Effect.flip(embedder().embed(["x"])))
    expect(bad).toMatchObject({ _tag: "EmbedderError", reason: "bad_response" })
  })
})
