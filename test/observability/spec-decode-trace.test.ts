import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { ledgerDisabledLayer } from "../../src/ledger/ledger.ts"
import { requestObserverLayer } from "../../src/observability/request-observer.ts"
import { metricValue } from "../http/support/server.ts"
import { observedServerLayer, postChat, serverUrl } from "./support/observed-server.ts"
import { eventually, otlpReceiver, otlpTestExporter } from "./support/otlp-receiver.ts"

// A speculating engine's decode span says how many draft tokens the sequence verified and how many
// were accepted: the same counts /metrics adds up over all sequences.
const tracedSpeculatingServer = (receiverUrl: string) => {
  const metricRegistry: Metric.MetricRegistry = new Map()
  return observedServerLayer({ metricRegistry, engine: { speculative: { method: "ngram", numSpeculativeTokens: 3, promptLookupMin: 1, promptLookupMax: 2, disableByBatchSize: null } } }).pipe(
    Layer.provide(requestObserverLayer({ captureContent: false }).pipe(Layer.provide(ledgerDisabledLayer))),
    Layer.provide(otlpTestExporter(receiverUrl, metricRegistry))
  )
}

describe("speculative decoding in the trace", () => {
  it.live("engine.decode carries the sequence's draft and accepted token counts", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const metrics = yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(tracedSpeculatingServer(receiver.url))
        const url = yield* serverUrl.pipe(Effect.provide(ctx))
        // The fake model rarely repeats itself: 300 tokens give some 1-grams time to recur (drafts).
        const r = yield* postChat(url, { model: "fake", max_tokens: 300, temperature: 0, messages: [{ role: "user", content: "the the the the the the the" }] })
        expect(r.status).toBe(200)
        yield* eventually(() => receiver.spans.some((s) => s.name === "engine.decode"))
        return yield* Effect.promise(() => fetch(`${url}/metrics`).then((m) => m.text()))
      }))
      const decode = receiver.spans.find((s) => s.name === "engine.decode")!
      const drafts = metricValue(metrics, "inferline_spec_decode_num_draft_tokens_total")
      expect(drafts).toBeGreaterThan(0)
      expect(decode.attributes["inferline.spec_decode.num_draft_tokens"]).toBe(drafts)
      expect(decode.attributes["inferline.spec_decode.num_accepted_tokens"]).toBe(metricValue(metrics, "inferline_spec_decode_num_accepted_tokens_total"))
    }))
})
