import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"

// What a consumer gets from `import ... from "inferline"`: the built dist/ (npm test builds it first),
// plain JavaScript that Node runs from node_modules, with the worker executor and the WASM kernels.
describe("the published entry point", () => {
  it("exposes the public surface, and the built engine runs the bundled model", async () => {
    const lib = await import("inferline")
    for (const name of ["Engine", "engineLayer", "defaultSamplingParams", "Gateway", "gatewayLayer", "apiRoutes", "httpServerLayer", "fakeEngineLayer", "scriptedEngineLayer", "gatewayTestLayer", "guidedCompilerFor", "GrammarError"]) {
      expect(lib, name).toHaveProperty(name)
    }
    const [text, verse] = await Effect.runPromise(Effect.gen(function*() {
      const engine = yield* lib.Engine
      const run = (guided: ReturnType<typeof lib.defaultSamplingParams>["guided"]) => Stream.runCollect(engine.generate({
        promptTokenIds: engine.info.tokenizer!.encode("And God said"),
        params: lib.defaultSamplingParams({ temperature: 0, maxTokens: 20, ignoreEos: true, guided })
      })).pipe(Effect.map((deltas) => deltas.map((d) => d.text).join("")))
      // Guided decoding from the library: a choice the model must make.
      const choice = lib.guidedCompilerFor(engine.info.tokenizer!, engine.info.config.vocabSize).compile({ kind: "choice", choices: ["Let there be light", "Amen"] }).grammar
      return [yield* run(null), yield* run(choice)] as const
    }).pipe(Effect.provide(lib.engineLayer({ modelDir: lib.bundledModelDir }))))
    expect(text.length).toBeGreaterThan(0)
    expect(["Let there be light", "Amen"]).toContain(verse)
  })
})
