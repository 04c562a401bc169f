import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { metricValue, scrapeMetrics, testModelDir } from "../http/support/server.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"

/**
 * The exact response cache as a user runs it: `inferline serve --config` with a `cache:` section, the
 * served model and an upstream group, keys on. Hits must call no engine and no upstream; anything that
 * changes the answer, a sampled request or another key must miss.
 */
const MASTER = "sk-master-cache"

const post = async (url: string, endpoint: string, body: Record<string, unknown>, key = MASTER, extra: Record<string, string> = {}) => {
  const r = await fetch(`${url}${endpoint}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...extra }, body: JSON.stringify(body) })
  const text = await r.text()
  const sse = r.headers.get("content-type")?.startsWith("text/event-stream") === true
  const events = sse ? text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6)) : []
  return { status: r.status, cache: r.headers.get("x-inferline-cache"), requestId: r.headers.get("x-request-id"), json: sse ? undefined : JSON.parse(text), events }
}
const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "remote", messages: [{ role: "user", content }], temperature: 0, ...extra })
const streamedText = (events: ReadonlyArray<string>) =>
  events.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e)).flatMap((c) => c.choices).map((c: any) => c.delta?.content ?? c.text ?? "").join("")

describe("the response cache, served", () => {
  let upstream: FakeUpstream
  let serve: ServeProcess
  let url: string
  let keyA: string, keyB: string
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "cached answer" }])
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cache-"))
    const config = path.join(dir, "router.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1", prices: { input: 1000, output: 2000 } }, model_info: { id: remote-upstream } }`,
      "cache: { type: local, ttl: 60 }"
    ].join("\n"))
    serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "served", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, INFERLINE_LEDGER_FLUSH_MS: "50", DATABASE_URL: undefined })
    url = await servedUrl(serve)
    const newKey = async () => ((await fetch(`${url}/admin/keys`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: "{}" }).then((r) => r.json())) as any).key as string
    ;[keyA, keyB] = [await newKey(), await newKey()]
  }, 60_000)
  afterAll(async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
    await upstream.close()
  })
  beforeEach(() => upstream.reset([{ type: "json", content: "cached answer" }]))

  it("a repeated deterministic chat is answered from the cache, with no upstream call, whole or as a faithful stream", async () => {
    const first = await post(url, "/v1/chat/completions", chat("What is the capital of France?"))
    expect([first.status, first.cache]).toEqual([200, "miss"])
    const second = await post(url, "/v1/chat/completions", chat("What is the capital of France?"))
    expect([second.status, second.cache]).toEqual([200, "hit"])
    expect(second.json).toEqual(first.json)
    const streamed = await post(url, "/v1/chat/completions", chat("What is the capital of France?", { stream: true, stream_options: { include_usage: true } }))
    expect(streamed.cache).toBe("hit")
    expect(upstream.requests).toHaveLength(1)
    const chunks = streamed.events.slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" })
    expect(streamedText(streamed.events)).toBe("cached answer")
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop")
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: first.json.usage })
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === first.json.id)).toBe(true)
    expect(streamed.events.at(-1)).toBe("[DONE]")
  })

  it("a streamed answer is stored whole: the same request without stream is a hit with the assembled message", async () => {
    upstream.reset([{ type: "stream", chunks: ["hel", "lo"] }])
    const streamed = await post(url, "/v1/chat/completions", chat("Say hello", { stream: true }))
    expect(streamed.cache).toBe("miss")
    expect(streamedText(streamed.events)).toBe("hello")
    await waitFor("the entry", async () => (await post(url, "/v1/chat/completions", chat("Say hello"))).cache === "hit")
    const whole = await post(url, "/v1/chat/completions", chat("Say hello"))
    expect(whole.json.choices[0]).toMatchObject({ message: { role: "assistant", content: "hello" }, finish_reason: "stop" })
    expect(upstream.requests).toHaveLength(1)
  })

  it("the served model: a repeated greedy chat and completion run no engine step the second time", async () => {
    const generated = async () => metricValue(await scrapeMetrics(url, MASTER), "inferline_generation_tokens_total", {})
    for (const [endpoint, body] of [
      ["/v1/chat/completions", { model: "served", messages: [{ role: "user", content: "In the beginning" }], max_tokens: 8, temperature: 0 }],
      ["/v1/completions", { model: "served", prompt: "And God said", max_tokens: 8, seed: 3 }]
    ] as const) {
      const miss = await post(url, endpoint, body)
      expect(miss.cache).toBe("miss")
      const before = await generated()
      const hit = await post(url, endpoint, body)
      expect(hit.cache).toBe("hit")
      expect(hit.json).toEqual(miss.json)
      expect(await generated()).toBe(before)
    }
  })

  it("misses when anything that changes the answer changes; a sampled request without a seed is never cached", async () => {
    await post(url, "/v1/chat/completions", chat("Name a color."))
    for (const changed of [chat("Name a colour."), chat("Name a color.", { max_tokens: 5 }), chat("Name a color.", { stop: ["."] }), chat("Name a color.", { temperature: 0, seed: 4 })]) {
      expect((await post(url, "/v1/chat/completions", changed)).cache).toBe("miss")
    }
    const sampled = { model: "remote", messages: [{ role: "user", content: "Name a color." }], temperature: 0.7 }
    expect((await post(url, "/v1/chat/completions", sampled)).cache).toBe("bypass")
    expect((await post(url, "/v1/chat/completions", sampled)).cache).toBe("bypass")
    expect(upstream.requests).toHaveLength(7)
  })

  it("keeps keys apart, and honours no-cache, no-store and Cache-Control", async () => {
    const body = chat("Which key am I?")
    expect((await post(url, "/v1/chat/completions", body, keyA)).cache).toBe("miss")
    expect((await post(url, "/v1/chat/completions", body, keyA)).cache).toBe("hit")
    expect((await post(url, "/v1/chat/completions", body, keyB)).cache).toBe("miss")
    expect((await post(url, "/v1/chat/completions", { ...body, cache: { "no-cache": true } }, keyA)).cache).toBe("miss")
    expect((await post(url, "/v1/chat/completions", body, keyA, { "cache-control": "no-cache" })).cache).toBe("miss")
    const fresh = chat("Never store me")
    await post(url, "/v1/chat/completions", { ...fresh, cache: { "no-store": true } })
    expect((await post(url, "/v1/chat/completions", fresh)).cache).toBe("miss")
    // The gateway's `cache` field never reaches the upstream (OpenAI would refuse it).
    expect(upstream.requests.every((r) => !("cache" in r.body))).toBe(true)
    const bad = await post(url, "/v1/chat/completions", { ...body, cache: { ttl: "long" } })
    expect([bad.status, bad.json.error.param]).toEqual([400, "cache.ttl"])
  })

  it("a hit is in the ledger as a cache hit at no cost, and in /metrics with the money it saved", async () => {
    const body = chat("What does a hit cost?")
    const miss = await post(url, "/v1/chat/completions", body)
    const hit = await post(url, "/v1/chat/completions", body)
    const rows = async () => ((await fetch(`${url}/spend/logs?model=remote&limit=100`, { headers: { authorization: `Bearer ${MASTER}` } }).then((r) => r.json())) as any).data
    await waitFor("both ledger rows", async () => (await rows()).filter((r: any) => r.request_id === miss.requestId || r.request_id === hit.requestId).length === 2)
    const all = await rows()
    const missRow = all.find((r: any) => r.request_id === miss.requestId)
    const hitRow = all.find((r: any) => r.request_id === hit.requestId)
    expect(missRow).toMatchObject({ cache_hit: false, deployment: "remote-upstream" })
    expect(missRow.cost).toBeGreaterThan(0)
    expect(hitRow).toMatchObject({ cache_hit: true, cost: 0, deployment: "remote-upstream", output_tokens: missRow.output_tokens })
    const metrics = await scrapeMetrics(url, MASTER)
    expect(metricValue(metrics, "inferline_response_cache_requests_total", { result: "hit" })).toBeGreaterThan(0)
    expect(metricValue(metrics, "inferline_response_cache_saved_usd_total", {})).toBeGreaterThanOrEqual(missRow.cost)
  })

  it("DELETE /cache clears a model group's entries (master key only)", async () => {
    const body = chat("Clear me")
    await post(url, "/v1/chat/completions", body)
    expect((await post(url, "/v1/chat/completions", body)).cache).toBe("hit")
    const refused = await fetch(`${url}/cache?model=remote`, { method: "DELETE", headers: { authorization: `Bearer ${keyA}` } })
    expect(refused.status).toBe(403)
    const cleared = await fetch(`${url}/cache?model=remote`, { method: "DELETE", headers: { authorization: `Bearer ${MASTER}` } }).then((r) => r.json()) as any
    expect(cleared.deleted).toBeGreaterThan(0)
    expect((await post(url, "/v1/chat/completions", body)).cache).toBe("miss")
  })
})
