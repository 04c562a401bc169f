import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { getJson, metricValue, MODEL, postJson, scrapeMetrics, startTestServer, type TestServer } from "./support/server.ts"
import { registeredRoutes } from "../support/registered-routes.ts"

describe("tokenize, models, health, metrics, OpenAPI", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server?.close())

  it("/tokenize and /detokenize round-trip (vLLM shapes)", async () => {
    const t = await postJson(`${server.baseUrl}/tokenize`, { model: MODEL, prompt: "In the beginning God created" })
    expect(t.status).toBe(200)
    expect(t.json.count).toBe(t.json.tokens.length)
    expect(t.json.max_model_len).toBeGreaterThan(0)
    const d = await postJson(`${server.baseUrl}/detokenize`, { model: MODEL, tokens: t.json.tokens })
    expect(d.status).toBe(200)
    expect(d.json).toEqual({ prompt: "In the beginning God created" })
    expect((await postJson(`${server.baseUrl}/detokenize`, { tokens: [] })).json).toEqual({ prompt: "" })
  })

  it("/tokenize of messages counts what a chat request's usage reports", async () => {
    const messages = [{ role: "system", content: "Answer in the words of the KJV." }, { role: "user", content: "Who made the light?" }]
    const t = await postJson(`${server.baseUrl}/tokenize`, { messages, return_token_strs: true })
    expect(t.json.token_strs).toHaveLength(t.json.count)
    const chat = await server.client.chat.completions.create({ model: MODEL, messages: messages as never, max_tokens: 1 })
    expect(chat.usage!.prompt_tokens).toBe(t.json.count)
  })

  it("/v1/models lists the served model with max_model_len", async () => {
    const r = await getJson(`${server.baseUrl}/v1/models`)
    expect(r.object).toBe("list")
    expect(r.data).toHaveLength(1)
    expect(r.data[0]).toMatchObject({ id: MODEL, object: "model", owned_by: "inferline" })
    expect(r.data[0].max_model_len).toBeGreaterThan(0)
  })

  it("/health is 200", async () => {
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200)
  })

  it("/metrics: Prometheus text with vLLM's names under inferline_, labelled by model", async () => {
    await server.client.completions.create({ model: MODEL, prompt: "And God said", max_tokens: 3 })
    const response = await fetch(`${server.baseUrl}/metrics`)
    expect(response.headers.get("content-type")).toContain("text/plain")
    const text = await response.text()
    const gaugesAndCounters = [
      "num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "prefix_cache_queries", "prefix_cache_hits",
      "num_preemptions_total", "prompt_tokens_total", "generation_tokens_total", "iteration_tokens_total"
    ]
    for (const name of gaugesAndCounters) {
      expect(text).toContain(`# TYPE inferline_${name} `)
      expect(metricValue(text, `inferline_${name}`, { model_name: MODEL }), name).not.toBeNull()
    }
    for (const name of ["time_to_first_token_seconds", "inter_token_latency_seconds", "e2e_request_latency_seconds"]) {
      expect(text).toContain(`# TYPE inferline_${name} histogram`)
      expect(metricValue(text, `inferline_${name}_count`, { model_name: MODEL }), name).toBeGreaterThan(0)
      expect(text).toContain(`inferline_${name}_bucket{model_name="${MODEL}",le="+Inf"}`)
    }
    for (const reason of ["stop", "length", "abort"]) {
      expect(metricValue(text, "inferline_request_success_total", { model_name: MODEL, finished_reason: reason }), reason).not.toBeNull()
    }
    expect(metricValue(text, "inferline_request_success_total", { finished_reason: "length" })).toBeGreaterThan(0)
    expect(metricValue(text, "inferline_generation_tokens_total")).toBeGreaterThanOrEqual(3)
    // Every sample line parses as Prometheus text.
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-z_][a-z0-9_]*(\{[^}]*\})? (-?[\d.e+-]+|NaN|\+Inf))$/)
  })

  it("/openapi.json documents every endpoint; request schemas come from the validators", async () => {
    const doc = await getJson(`${server.baseUrl}/openapi.json`)
    expect(doc.openapi).toBe("3.1.0")
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
    expect(documented.sort()).toEqual(registeredRoutes().map((r) => `${r.method} ${r.path}`).sort())
    expect(documented).toContain("POST /v1/embeddings")
    expect(documented).toContain("POST /v1/messages")
    expect(doc.components.schemas.EmbeddingRequest.required).toEqual(["input"])
    const chat = doc.components.schemas.ChatCompletionRequest
    expect(chat.required).toEqual(["messages"])
    for (const field of ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stream_options", "top_k", "min_p", "logprobs", "top_logprobs", "seed", "stop"]) {
      expect(chat.properties[field], field).toBeDefined()
    }
    expect(doc.paths["/v1/completions"].post.responses["400"]).toBeDefined()
  })

  it("/docs is a self-contained HTML page", async () => {
    const r = await fetch(`${server.baseUrl}/docs`)
    expect(r.headers.get("content-type")).toContain("text/html")
    const html = await r.text()
    expect(html).toContain("/openapi.json")
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:|https?:\/\/(?!json-schema)/)
  })
})
