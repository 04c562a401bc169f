import { Context, Effect, Layer, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { Engine, type EngineDelta, type GenerateRequest } from "../../src/actors/engine.ts"
import { InProcessKvConnector } from "../../src/engine/kv-transfer/in-process-connector.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { engineLayer } from "../../src/layers/engine.ts"
import { bundledModelDir } from "../support/models.ts"

// Two engine services in one process, the KV passed in memory (--kv-role's in-process transport): the
// prefill engine's first delta carries a transfer id, the decode engine continues from it; the tokens are
// the colocated engine's, and blocks come back on both sides after completion and after an abort.
const connector = new InProcessKvConnector()
const common = { modelDir: bundledModelDir, executor: "in-process" as const, kvCacheMemoryBytes: 8 * 2 ** 20, maxModelLen: 256 }

const run = <A>(f: (engines: { prefill: Engine["Service"]; decode: Engine["Service"]; colocated: Engine["Service"] }) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const get = (layer: Layer.Layer<Engine, Error>) => Effect.map(Layer.build(layer), (ctx) => Context.get(ctx, Engine))
    const prefill = yield* get(engineLayer({ ...common, kvTransfer: { role: "in-process", producer: connector, consumer: null } }))
    const decode = yield* get(engineLayer({ ...common, kvTransfer: { role: "in-process", producer: null, consumer: connector } }))
    const colocated = yield* get(engineLayer(common))
    return yield* f({ prefill, decode, colocated })
  })))

const collect = (s: Stream.Stream<EngineDelta, unknown>) => Effect.map(Stream.runCollect(s), (c) => [...c])
const tokensOf = (ds: ReadonlyArray<EngineDelta>) => ds.flatMap((d) => d.tokenIds)
const prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37].map((t) => t * 41 % 4000)

describe("two engines in one process, disaggregated", () => {
  it("prefill then decode gives the colocated tokens (greedy and seeded); both pools empty afterwards", async () => {
    await run(({ prefill, decode, colocated }) => Effect.gen(function*() {
      for (const params of [defaultSamplingParams({ temperature: 0, maxTokens: 20, ignoreEos: true }), defaultSamplingParams({ temperature: 0.9, seed: 8, maxTokens: 20, ignoreEos: true })]) {
        const request: GenerateRequest = { promptTokenIds: prompt, params }
        const first = yield* collect(prefill.generate({ ...request, kvTransfer: { doRemoteDecode: true } }))
        expect(first).toHaveLength(1)
        expect(first[0].finishReason).toBe("length")
        const transferId = first[0].kvTransferId!
        const rest = yield* collect(decode.generate({ ...request, kvTransfer: { doRemotePrefill: true, transferId } }))
        expect([...tokensOf(first), ...tokensOf(rest)]).toEqual(tokensOf(yield* collect(colocated.generate(request))))
        expect(rest[rest.length - 1].completionTokens).toBe(20)
      }
      expect((yield* prefill.stats).kvCacheUsage).toBe(0)
      expect((yield* decode.stats).kvCacheUsage).toBe(0)
      expect(connector.pending.size).toBe(0)
    }))
  }, 60_000)

  it("a decode reader that stops after a few tokens frees the decode side's blocks", async () => {
    await run(({ prefill, decode }) => Effect.gen(function*() {
      const request: GenerateRequest = { promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 200, ignoreEos: true }) }
      const first = yield* collect(prefill.generate({ ...request, kvTransfer: { doRemoteDecode: true } }))
      const some = yield* collect(decode.generate({ ...request, kvTransfer: { doRemotePrefill: true, transferId: first[0].kvTransferId! } }).pipe(Stream.take(3)))
      expect(some).toHaveLength(3)
      for (let i = 0; i < 1000 && (yield* decode.stats).kvCacheUsage > 0; i++) yield* Effect.sleep(5)
      expect((yield* decode.stats).kvCacheUsage).toBe(0)
      expect((yield* prefill.stats).kvCacheUsage).toBe(0)
    }))
  }, 60_000)

  it("refuses, by name, a part the engine has no connector end for, n > 1, and an unknown transfer", async () => {
    await run(({ prefill, decode, colocated }) => Effect.gen(function*() {
      const request: GenerateRequest = { promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 5 }) }
      const err = (s: Stream.Stream<EngineDelta, unknown>) => Effect.flip(collect(s)) as Effect.Effect<{ reason: string; message: string }>
      expect((yield* err(colocated.generate({ ...request, kvTransfer: { doRemoteDecode: true } }))).message).toMatch(/needs a prefill server/)
      expect((yield* err(prefill.generate({ ...request, kvTransfer: { doRemotePrefill: true, transferId: "x" } }))).message).toMatch(/needs a decode server/)
      expect((yield* err(prefill.generate({ ...request, params: { ...request.params, n: 2 }, kvTransfer: { doRemoteDecode: true } }))).message).toMatch(/n must be 1, got 2/)
      const unknown = yield* err(decode.generate({ ...request, kvTransfer: { doRemotePrefill: true, transferId: "kv-nope" } }))
      expect(unknown).toMatchObject({ reason: "invalid_request" })
      expect(unknown.message).toMatch(/no KV transfer "kv-nope" is pending/)
    }))
  }, 60_000)
})
