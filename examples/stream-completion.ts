/**
 * Example 1: an Effect program that loads the bundled model through the Engine Layer and streams a
 * completion to stdout. Ctrl-C interrupts the program's fiber: the stream's scope closes, the engine
 * aborts the request and frees its KV blocks, the layer unloads the model, and the process exits 0.
 *
 *   node examples/stream-completion.ts "And God said" 60
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { bundledModelDir, defaultSamplingParams, Engine, engineLayer } from "../src/index.ts"

const [prompt = "And God said,", maxTokens = "60"] = process.argv.slice(2)

const program = Effect.gen(function*() {
  const engine = yield* Engine
  const tokenizer = engine.info.tokenizer!
  yield* Console.log(`[${engine.info.modelName}] ${prompt}`)
  yield* engine.generate({
    promptTokenIds: tokenizer.encode(prompt),
    params: defaultSamplingParams({ temperature: 0.8, topP: 0.95, seed: 1, maxTokens: Number(maxTokens) })
  }).pipe(
    Stream.runForEach((delta) => Effect.sync(() => process.stdout.write(delta.text)))
  )
  yield* Console.log("\n[done]")
}).pipe(
  Effect.onInterrupt(() => Console.log("\n[interrupted]")),
  Effect.provide(engineLayer({ modelDir: bundledModelDir }))
)

NodeRuntime.runMain(program)
