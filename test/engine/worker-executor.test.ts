import { afterAll, describe, expect, it } from "vitest"
import { buildForwardBatch } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { CausalLM } from "../../src/engine/model.ts"
import { WorkerExecutor } from "../../src/engine/worker-executor.ts"
import { makeKernels } from "../../src/engine/model-dir.ts"
import { randomConfig, randomWeights, weightsFor } from "../support/random-model.ts"
import { maxAbsDiff } from "../support/paged-sequence.ts"

// The worker executor computes exactly what the in-process forward pass computes, on the same shared KV
// pools, while the main thread stays free to run other work.
const config = randomConfig({ hidden_size: 256, intermediate_size: 704, num_hidden_layers: 6, vocab_size: 2048 })
const weights = randomWeights(config, 11)
const simd = makeKernels("simd")
const models = { reference: new CausalLM(config, weights), simd: new CausalLM(config, weightsFor(simd, weights), simd) }
const model = models.simd

describe("worker executor", () => {
  const workers: Array<WorkerExecutor> = []
  afterAll(() => Promise.all(workers.map((w) => w.close())))

  for (const [backend, dtype, threads] of [["reference", "f32", 1], ["simd", "f32", 1], ["simd", "f16", 1], ["simd", "f16", 3]] as const) {
    it(`gives the in-process logits and writes the shared ${dtype} KV pools (${backend} kernels, ${threads} thread(s))`, async () => {
      const model = models[backend]
      const prompt = Array.from({ length: 40 }, (_, i) => (i * 97) % 2048)
      const blockTable = Int32Array.from([3, 1, 2])
      const batch = buildForwardBatch([{ tokenIds: prompt, startPosition: 0, blockTable, logits: "last" }], 16)
      const local = new PagedKvCache(config, { numBlocks: 4, blockSize: 16, dtype }, model.kernels.arena?.pools)
      const want = model.forward(batch, local)

      const shared = new PagedKvCache(config, { numBlocks: 4, blockSize: 16, dtype }, model.kernels.arena?.pools)
      const w = new WorkerExecutor(model, shared, { tensorParallelSize: threads })
      workers.push(w)
      const got = await w.execute(batch)
      expect(maxAbsDiff(got, want)).toBe(0)
      // The worker wrote the K/V into the pools this thread sees.
      expect(maxAbsDiff(shared.k[2], local.k[2])).toBe(0)
      // A decode step on the main thread over the worker-written cache matches the local one.
      const step = buildForwardBatch([{ tokenIds: [5], startPosition: 40, blockTable, logits: "last" }], 16)
      expect(maxAbsDiff(model.forward(step, shared), model.forward(step, local))).toBe(0)
    })
  }

  it("refuses --tensor-parallel-size above 1 with the reference kernels, by name", () => {
    const shared = new PagedKvCache(config, { numBlocks: 4, blockSize: 16, dtype: "f32" })
    expect(() => new WorkerExecutor(models.reference, shared, { tensorParallelSize: 2 })).toThrow(/--tensor-parallel-size 2 needs the WASM SIMD kernels/)
  })

  it("leaves the main thread free while a step computes", async () => {
    const shared = new PagedKvCache(config, { numBlocks: 40, blockSize: 16, dtype: "f32" }, model.kernels.arena?.pools)
    const w = new WorkerExecutor(model, shared)
    workers.push(w)
    const prompt = Array.from({ length: 192 }, (_, i) => (i * 31) % 2048)
    const table = Int32Array.from({ length: 12 }, (_, i) => i + 1)
    let settled = false
    const step = w.execute(buildForwardBatch([{ tokenIds: prompt, startPosition: 0, blockTable: table, logits: "last" }], 16)).then(() => (settled = true))
    // If the forward pass ran on this thread, it would have finished before any other callback ran.
    let ticks = 0
    while (!settled && ticks < 1_000_000) {
      await new Promise((r) => setImmediate(r))
      ticks++
    }
    await step
    expect(ticks).toBeGreaterThan(1)
  })
})
