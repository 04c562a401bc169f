import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"

// What a consumer gets from `import ... from "inferline"`: the built dist/ (npm test builds it first),
// plain JavaScript that Node runs from node_modules, with the worker executor and the WASM kernels.
describe("the published entry point", () => {
  it("exposes the public surface, and the built engine runs the bundled model", async () => {
    const lib = await import("inferline")
    for (const name of ["Engine", "engineLayer", "defaultSamplingParams", "Gateway", "gatewayLayer", "apiRoutes", "httpServerLayer", "fakeEngineLayer", "scriptedEngineLayer", "gatewayTestLayer"]) {
      expect(lib, name).toHaveProperty(name)
    }
    const text = await Effect.runPromise(Effect.gen(function*() {
      const engine = yield* lib.Engine
      const deltas = yield* Stream.runCollect(engine.generate({
        promptTokenIds: engine.info.tokenizer!.encode("And God said"),
        params: lib.defaultSamplingParams({ temperature: 0, maxTokens: 6, ignoreEos: true })
      }))
      return deltas.map((d) => d.text).join("")
    }).pipe(Effect.provide(lib.engineLayer({ modelDir: lib.bundledModelDir }))))
    expect(text.length).toBeGreaterThan(0)
  })
})
