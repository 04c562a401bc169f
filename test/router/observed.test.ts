import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Ledger } from "../../src/ledger/ledger.ts"
import { emptyPriceTable } from "../../src/ledger/price-table.ts"
import type { SpendRow } from "../../src/ledger/spend-row.ts"
import { METRIC_ERROR_TYPES_MAX, requestObserverLayer } from "../../src/observability/request-observer.ts"
import { parseRouterConfig } from "../../src/router/config.ts"
import { priceTableFromRouterConfig } from "../../src/router/price-table.ts"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { chat, openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/** The request path tells the RequestObserver (span, metrics, ledger row) who served and what it used. */
describe("routed requests are observed", () => {
  let upstream: FakeUpstream, server: RouterTestServer
  const rows: Array<SpendRow> = []
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json" }])
    const config = { model_list: [openAiDeployment("g", "u", upstream.url, { prices: { input: 1, output: 2 } })] }
    const ledger = Layer.succeed(Ledger, { record: (row: SpendRow) => Effect.sync(() => void rows.push(row)), flush: Effect.void })
    const observer = requestObserverLayer({ priceTable: priceTableFromRouterConfig(parseRouterConfig(config, { UPSTREAM_KEY: "k" }), emptyPriceTable) }).pipe(Layer.provide(ledger))
    server = await startRouterServer(config, { services: observer })
  })
  afterAll(async () => {
    await server.close()
    await upstream.close()
  })

  it("one ledger row per request with deployment, provider, usage and cost, streaming or not", async () => {
    upstream.script = [{ type: "json", usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } }]
    await postChat(server.baseUrl, chat("g"))
    upstream.script = [{ type: "stream" }]
    await postChat(server.baseUrl, chat("g", { stream: true }))
    await new Promise((r) => setTimeout(r, 20))
    expect(rows.map((r) => [r.model_group, r.deployment, r.provider, r.status, r.input_tokens, r.output_tokens])).toEqual([
      ["g", "u", "openai", "ok", 1000, 500],
      ["g", "u", "openai", "ok", 5, 2]
    ])
    expect(rows[0].cost).toBeCloseTo((1000 * 1 + 500 * 2) / 1e6)
    expect(rows[1].first_token_time).not.toBeNull()
  })

  it("an upstream inventing a new error code per request does not make a new metric series per request", async () => {
    rows.length = 0
    upstream.script = Array.from({ length: METRIC_ERROR_TYPES_MAX + 6 }, (_, i) => ({ type: "status" as const, status: 400, body: { error: { message: "no", type: "invalid_request_error", code: `made_up_${i}` } } }))
    for (let i = 0; i < METRIC_ERROR_TYPES_MAX + 6; i++) expect((await postChat(server.baseUrl, chat("g"))).status).toBe(400)
    const metrics = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text())
    const types = new Set([...metrics.matchAll(/^gen_ai_server_request_duration_seconds_count\{[^}]*error_type="([^"]*)"/gm)].map((m) => m[1]))
    expect(types.size).toBe(METRIC_ERROR_TYPES_MAX + 1)
    expect(types.has("_OTHER")).toBe(true)
    await new Promise((r) => setTimeout(r, 20))
    // The ledger keeps every exact code.
    expect(new Set(rows.map((r) => r.error_type)).size).toBe(METRIC_ERROR_TYPES_MAX + 6)
  })

  it("without tag filtering, a request's tags are still recorded and still not sent upstream", async () => {
    rows.length = 0
    upstream.reset()
    const r = await fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "x-inferline-tags": "team-a" }, body: JSON.stringify(chat("g", { tags: ["batch"] })) })
    expect(r.status).toBe(200)
    expect(upstream.requests[0].body).not.toHaveProperty("tags")
    await new Promise((r) => setTimeout(r, 20))
    expect(rows.map((r) => r.tags)).toEqual([["batch", "team-a"]])
  })
})
