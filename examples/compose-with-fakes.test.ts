/**
 * Example 3: a test of your own that composes Inferline's whole HTTP stack from test doubles — the fake
 * engine (real scheduler and KV manager over a deterministic fake model, with the bundled tokenizer so
 * chat templates work), in-memory keys and limits, and a recording ledger — and asserts the usage that
 * was recorded for a request.
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { HttpServer } from "effect/http"
import OpenAI from "openai"
import { expect, it } from "vitest"
import { bundledModelDir, fakeEngineLayer, gatewayTestLayer, httpServerLayer, recordingLedger, requestObserverLayer, routerLayer, TextTokenizer } from "../src/index.ts"

it("the ledger records the usage the client was told", async () => {
  const ledger = recordingLedger()
  const stack = httpServerLayer({ host: "127.0.0.1", port: 0 }).pipe(
    Layer.provideMerge(routerLayer()),
    Layer.provideMerge(fakeEngineLayer({ vocabSize: 4096, tokenizer: TextTokenizer.fromDir(bundledModelDir) })),
    Layer.provideMerge(gatewayTestLayer()),
    Layer.provideMerge(requestObserverLayer().pipe(Layer.provide(ledger.layer)))
  )
  const runtime = ManagedRuntime.make(stack)
  try {
    const address = await runtime.runPromise(Effect.gen(function*() {
      return (yield* HttpServer.HttpServer).address
    }))
    if (address._tag !== "InetAddressV4") throw new Error("expected an IPv4 address")
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${address.port}/v1`, apiKey: "unused", maxRetries: 0 })
    const response = await client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "Hello" }], max_tokens: 7 })
    expect(response.usage!.completion_tokens).toBe(7)
    for (let i = 0; i < 50 && ledger.rows.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(ledger.rows).toHaveLength(1)
    expect(ledger.rows[0]).toMatchObject({
      operation: "chat",
      model_group: "fake",
      status: "ok",
      input_tokens: response.usage!.prompt_tokens,
      output_tokens: 7
    })
  } finally {
    await runtime.dispose()
  }
})
