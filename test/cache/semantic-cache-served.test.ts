import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { metricValue, scrapeMetrics, testModelDir } from "../http/support/server.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"

/**
 * The semantic cache as a user runs it: `inferline serve --config` with `cache.semantic`, on for one
 * model group and for keys whose metadata says so. A paraphrase of a cached question is answered from
 * the cache with no upstream call; a question with another entity, a negation, another system prompt,
 * another key, or a group it is not on for goes upstream. Then an embedding deployment instead of the
 * built-in embedder, and replicas sharing entries through Postgres and Redis.
 */
const MASTER = "sk-master-semantic"

interface Answer {
  readonly status: number
  readonly cache: string | null
  readonly match: string | null
  readonly similarity: string | null
  readonly json: any
}

const post = async (url: string, body: Record<string, unknown>, key = MASTER): Promise<Answer> => {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify(body) })
  return { status: r.status, cache: r.headers.get("x-inferline-cache"), match: r.headers.get("x-inferline-cache-match"), similarity: r.headers.get("x-inferline-cache-similarity"), json: await r.json() }
}
const ask = (content: string, model = "remote", extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content }], temperature: 0, ...extra })
const admin = async (url: string, route: string, body: unknown, method = "POST") =>
  (await fetch(`${url}${route}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(body) })).json() as Promise<any>

const writeConfig = (lines: ReadonlyArray<string>) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "semantic-cache-")), "router.yaml")
  fs.writeFileSync(file, lines.join("\n"))
  return file
}

const stop = async (serve: ServeProcess) => {
  serve.child.kill("SIGTERM")
  await serve.exited
}

describe("the semantic cache, served with the built-in embedder", () => {
  let upstream: FakeUpstream
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "Paris." }])
    const config = writeConfig([
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      `  - { model_name: other, litellm_params: { model: openai/o, api_base: "${upstream.url}/v1" } }`,
      "cache:",
      "  type: local",
      "  semantic: { enabled_for: { models: [remote] } }"
    ])
    serve = spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, DATABASE_URL: undefined })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    await stop(serve)
    await upstream.close()
  })
  beforeEach(() => upstream.reset([{ type: "json", content: "Paris." }]))

  it("answers a paraphrase from the cache and sends a changed entity or a negation upstream", async () => {
    const first = await post(url, ask("What is the capital of France?"))
    expect([first.status, first.cache]).toEqual([200, "miss"])
    const paraphrase = await post(url, ask("Tell me the capital of France."))
    expect([paraphrase.status, paraphrase.cache, paraphrase.match]).toEqual([200, "hit", "semantic"])
    expect(Number(paraphrase.similarity)).toBeGreaterThanOrEqual(0.85)
    expect(paraphrase.json).toEqual(first.json)
    expect(upstream.requests).toHaveLength(1)
    const exact = await post(url, ask("What is the capital of France?"))
    expect([exact.cache, exact.match]).toEqual(["hit", "exact"])
    for (const different of ["What is the capital of Germany?", "What is not the capital of France?"]) {
      expect((await post(url, ask(different))).cache).toBe("miss")
    }
    expect(upstream.requests).toHaveLength(3)
    const metrics = await scrapeMetrics(url, MASTER)
    expect(metricValue(metrics, "inferline_response_cache_semantic_lookups_total", { result: "hit" })).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, "inferline_response_cache_semantic_lookups_total", { result: "guard_rejected" })).toBeGreaterThanOrEqual(2)
  })

  it("matches only within the same system prompt and parameters", async () => {
    const system = (content: string) => ({ role: "system", content })
    const body = (q: string, sys: string, extra: Record<string, unknown> = {}) => ({ model: "remote", messages: [system(sys), { role: "user", content: q }], temperature: 0, ...extra })
    expect((await post(url, body("How do I reverse a list in Python?", "Answer briefly."))).cache).toBe("miss")
    expect((await post(url, body("How can I reverse a list in Python?", "Answer briefly."))).match).toBe("semantic")
    expect((await post(url, body("How can I reverse a list in Python?", "Answer at length."))).cache).toBe("miss")
    expect((await post(url, body("How can I reverse a list in Python?", "Answer briefly.", { max_tokens: 7 }))).cache).toBe("miss")
  })

  it("is off for groups it is not enabled for, unless the key's metadata turns it on; keys never share", async () => {
    expect((await post(url, ask("Where is the Eiffel Tower?", "other"))).cache).toBe("miss")
    expect((await post(url, ask("Where's the Eiffel Tower?", "other"))).cache).toBe("miss")
    const on = (await admin(url, "/admin/keys", { metadata: { semantic_cache: true } })).key as string
    const alsoOn = (await admin(url, "/admin/keys", { metadata: { semantic_cache: true } })).key as string
    const off = (await admin(url, "/admin/keys", { metadata: { semantic_cache: false } })).key as string
    expect((await post(url, ask("Where is the Louvre?", "other"), on)).cache).toBe("miss")
    expect((await post(url, ask("Where's the Louvre?", "other"), on)).match).toBe("semantic")
    expect((await post(url, ask("Where's the Louvre?", "other"), alsoOn)).cache).toBe("miss")
    expect((await post(url, ask("Where is the Louvre located?", "other"), off)).cache).toBe("miss")
    expect((await post(url, ask("Where's the Louvre located?", "other"), off)).cache).toBe("miss")
    expect(upstream.requests).toHaveLength(6)
  })

  it("DELETE /cache clears the semantic entries of a model group", async () => {
    await post(url, ask("What is the tallest mountain on Earth?"))
    expect((await post(url, ask("Which is the tallest mountain on Earth?"))).match).toBe("semantic")
    expect((await admin(url, "/cache?model=remote", undefined, "DELETE")).deleted).toBeGreaterThanOrEqual(1)
    expect((await post(url, ask("Which is the tallest mountain on Earth?"))).cache).toBe("miss")
  })
})

describe("the semantic cache with an embedding deployment", () => {
  let upstream: FakeUpstream
  let embedder: FakeUpstream
  let serve: ServeProcess
  let url: string
  // Letter counts: enough to tell questions apart, and identical for the same letters in another order.
  const letters = (text: string) => Array.from({ length: 26 }, (_, i) => [...text.toLowerCase()].filter((c) => c.charCodeAt(0) - 97 === i).length + 0.01)
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "Blue." }])
    embedder = await startFakeUpstream([{ type: "embed", embed: letters }])
    const config = writeConfig([
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      `  - { model_name: embeddings, litellm_params: { model: openai/e, api_base: "${embedder.url}/v1" } }`,
      "litellm_settings:",
      "  cache: true",
      "  cache_params: { type: local, semantic: { embedding_model: embeddings, similarity_threshold: 0.99, enabled_for: all } }"
    ])
    serve = spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, DATABASE_URL: undefined })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    await stop(serve)
    await Promise.all([upstream.close(), embedder.close()])
  })

  it("embeds with the deployment; when it fails, requests go on without the semantic cache", async () => {
    expect((await post(url, ask("Why is the sky blue?"))).cache).toBe("miss")
    const again = await post(url, ask("why is the sky blue"))
    expect([again.cache, again.match]).toEqual(["hit", "semantic"])
    expect(embedder.requests.map((r) => r.body.input)).toEqual([["Why is the sky blue?"], ["why is the sky blue"]])
    expect(upstream.requests).toHaveLength(1)
    embedder.reset([{ type: "status", status: 500 }])
    const down = await post(url, ask("Why is the sea blue?"))
    expect([down.status, down.cache]).toEqual([200, "miss"])
    expect(metricValue(await scrapeMetrics(url, MASTER), "inferline_response_cache_semantic_lookups_total", { result: "error" })).toBeGreaterThanOrEqual(1)
  })

  it("refuses a config whose embedding_model names no OpenAI-compatible group", async () => {
    const config = writeConfig([
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      "cache: { semantic: { embedding_model: embedings } }"
    ])
    const bad = spawnServe([testModelDir(), "--port", "0", "--config", config], { DATABASE_URL: undefined })
    expect(await bad.exited).not.toBe(0)
    expect(bad.output()).toMatch(/cache\.semantic\.embedding_model: no OpenAI-compatible deployment in group embedings/)
  })
})

describe("the semantic cache across replicas (Redis answers, Postgres entries)", () => {
  let upstream: FakeUpstream
  let a: ServeProcess, b: ServeProcess
  let urlA: string, urlB: string
  let start: () => ServeProcess
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "42." }])
    const config = writeConfig([
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      // LiteLLM's spelling: redis-semantic is on for every request.
      `cache: { type: redis-semantic, ttl: 60, namespace: semantic-${process.pid}-${Date.now()} }`
    ])
    const env = { INFERLINE_MASTER_KEY: MASTER, REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test" }
    start = () => spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], env)
    a = start()
    urlA = await servedUrl(a)
    b = start()
    urlB = await servedUrl(b)
  }, 90_000)
  afterAll(async () => {
    await Promise.all([stop(a), stop(b)])
    await upstream.close()
  })

  it("an entry stored by one replica answers a paraphrase on the other, and survives a restart", async () => {
    expect((await post(urlA, ask("What is the answer to life, the universe and everything?"))).cache).toBe("miss")
    // no-store: a miss while B catches up must not store B's own entry for the paraphrase.
    const paraphrase = ask("Tell me the answer to life, the universe and everything.", "remote", { cache: { "no-store": true } })
    // Misses while B catches up go upstream; a hit (x-inferline-cache-match: semantic) calls nothing.
    await waitFor("replica B to pick up the entry", async () => (await post(urlB, paraphrase)).match === "semantic")
    await stop(a)
    a = start()
    urlA = await servedUrl(a)
    await waitFor("the restarted replica to load the entry", async () => (await post(urlA, paraphrase)).match === "semantic")
  })
})
