import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import type { AddressInfo } from "node:net"
import { gatewayTestLayer } from "../../src/gateway/layers.ts"
import { httpServerLayer } from "../../src/http/server.ts"
import { fakeEngineLayer } from "../../src/layers/fake-engine.ts"
import { routerLayer } from "../../src/router/layer.ts"
import { observedServerLayer, postChat, serverUrl } from "./support/observed-server.ts"

const get = (url: string) => Effect.promise(() => fetch(url).then(async (r) => ({ status: r.status, text: await r.text(), type: r.headers.get("content-type") })))

describe("/metrics", () => {
  it.live("shows the GenAI histograms and the engine phase histograms next to the inferline_* metrics", () =>
    Effect.scoped(Effect.gen(function*() {
      const ctx = yield* Layer.build(observedServerLayer())
      const url = yield* serverUrl.pipe(Effect.provide(ctx))
      yield* postChat(url, { model: "fake", messages: [{ role: "user", content: "In the beginning" }], max_tokens: 5 })
      const { text } = yield* get(`${url}/metrics`)
      for (const name of [
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_server_time_per_output_token_seconds_bucket",
        "gen_ai_server_request_duration_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "inferline_request_queue_time_seconds_bucket",
        "inferline_request_prefill_time_seconds_bucket",
        "inferline_request_decode_time_seconds_bucket",
        "inferline_time_to_first_token_seconds_bucket",
        "inferline_num_requests_running"
      ]) expect(text, name).toContain(name)
      expect(text).toMatch(/gen_ai_client_token_usage_sum\{[^}]*gen_ai_token_type="output"[^}]*\} 5/)
      expect(text).toMatch(/gen_ai_operation_name="chat"/)
    })))
})

describe("the API server", () => {
  it.live("serves /ui, its chart library, and /spend (503 without a database)", () =>
    Effect.scoped(Effect.gen(function*() {
      const ctx = yield* Layer.build(httpServerLayer({ host: "127.0.0.1", port: 0 }).pipe(Layer.provide(routerLayer()), Layer.provide(fakeEngineLayer()), Layer.provide(gatewayTestLayer())))
      const address = (yield* Effect.provide(HttpServer.HttpServer, ctx)).address as unknown as AddressInfo
      const url = `http://127.0.0.1:${address.port}`
      const ui = yield* get(`${url}/ui`)
      expect(ui.status).toBe(200)
      expect(ui.text).toContain("/ui/chart.umd.min.js")
      const lib = yield* get(`${url}/ui/chart.umd.min.js`)
      expect(lib.status).toBe(200)
      expect(lib.text).toContain("Chart")
      const spend = yield* get(`${url}/spend/report?group_by=key`)
      expect(spend.status).toBe(503)
      expect(JSON.parse(spend.text).error.code).toBe("ledger_unavailable")
      const data = yield* get(`${url}/ui/data`)
      expect(JSON.parse(data.text)).toMatchObject({ ledger: null, engine: { model: "fake", running: 0 } })
    })))
})
