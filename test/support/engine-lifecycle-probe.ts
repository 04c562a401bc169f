/**
 * Opens and closes the Engine layer N times (each time generating a few tokens), then reports, after
 * forced GCs: active handles, how many of the N engine services were garbage-collected, and memory, as
 * JSON on stdout. Run with --expose-gc by test/library/engine-lifecycle.test.ts in a child process, so
 * the numbers are this process's alone.
 */
import { Effect, Stream } from "effect"
import { Engine } from "../../src/actors/engine.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { engineLayer } from "../../src/layers/engine.ts"
import { testModelDir } from "./models.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")
const settle = async () => {
  for (let i = 0; i < 5; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 20))
  }
}
const snapshot = async () => {
  await settle()
  const m = process.memoryUsage()
  return { handles: process.getActiveResourcesInfo(), rss: m.rss, heapUsed: m.heapUsed, external: m.external }
}

let collected = 0
const registry = new FinalizationRegistry(() => collected++)
const once = Effect.gen(function*() {
  const engine = yield* Engine
  registry.register(engine, undefined)
  const deltas = yield* Stream.runCollect(engine.generate({ promptTokenIds: [5, 6, 7, 8], params: defaultSamplingParams({ temperature: 0, maxTokens: 4, ignoreEos: true }) }))
  if (deltas.length !== 4) throw new Error(`expected 4 deltas, got ${deltas.length}`)
}).pipe(Effect.provide(engineLayer({ modelDir: testModelDir(), kvCacheMemoryBytes: 16 * 2 ** 20 })))

const runs = Number(process.argv[2] ?? 20)
await Effect.runPromise(once) // warm-up: module and JIT state that stays for the life of the process
const baseline = await snapshot()
collected = 0
for (let i = 0; i < runs; i++) await Effect.runPromise(once)
const after = await snapshot()
await settle()
process.stdout.write(JSON.stringify({ runs, collected, baseline, after }) + "\n")
