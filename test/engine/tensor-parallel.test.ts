import * as os from "node:os"
import { afterAll, describe, expect, it } from "vitest"
import { defaultTensorParallelSize } from "../../src/layers/engine.ts"
import { buildForwardBatch } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { matrixDtype, type MatrixStorage } from "../../src/engine/matrix.ts"
import { CausalLM } from "../../src/engine/model.ts"
import { WasmArena } from "../../src/engine/wasm/arena.ts"
import { startParallelGroup, type ParallelGroup } from "../../src/engine/wasm/parallel-group.ts"
import { simdKernels } from "../../src/engine/wasm/simd-kernels.ts"
import { castWeights, randomConfig, randomWeights, weightsFor } from "../support/random-model.ts"

// Thread-count invariance: the same logits, bit for bit, whether a step runs on 1, 2 or 3 threads (each
// output element is computed by one thread in the order one thread would use).
const config = randomConfig({ hidden_size: 192, intermediate_size: 520, num_hidden_layers: 3, num_attention_heads: 6, num_key_value_heads: 2, vocab_size: 1000, attention_bias: true })
const base = randomWeights(config, 5)
const groups: Array<ParallelGroup> = []
afterAll(() => Promise.all(groups.map((g) => g.close())))

/** Prefill of two sequences side by side (one chunked), then decode steps of both; every step's logits. */
const run = async (threads: number, dtype: MatrixStorage): Promise<Array<Float32Array>> => {
  const arena = WasmArena.create()
  const group = threads > 1 ? await startParallelGroup(arena, threads) : null
  if (group) groups.push(group)
  const kernels = simdKernels(arena, group)
  expect(kernels.threads).toBe(threads)
  const model = new CausalLM(config, weightsFor(kernels, castWeights(base, dtype)), kernels)
  expect(matrixDtype(model.weights.layers[0].q)).toBe(dtype)
  const cache = new PagedKvCache(config, { numBlocks: 40, blockSize: 8, dtype: "f32" }, arena.pools)
  // Sequence a's 180-token prompt makes the first step large enough for the element-wise kernels to split too.
  const a = Int32Array.from({ length: 24 }, (_, i) => 39 - i), b = Int32Array.from([7, 2, 5])
  const promptA = Array.from({ length: 180 }, (_, i) => (i * 37 + 11) % 1000), promptB = Array.from({ length: 13 }, (_, i) => (i * 53 + 7) % 1000)
  const out: Array<Float32Array> = []
  out.push(model.forward(buildForwardBatch([
    { tokenIds: promptA, startPosition: 0, blockTable: a, logits: "all" },
    { tokenIds: promptB.slice(0, 6), startPosition: 0, blockTable: b, logits: "last" }
  ], 8), cache))
  out.push(model.forward(buildForwardBatch([{ tokenIds: promptB.slice(6), startPosition: 6, blockTable: b, logits: "last" }], 8), cache))
  for (let s = 0; s < 4; s++) {
    out.push(model.forward(buildForwardBatch([
      { tokenIds: [(s * 101) % 1000], startPosition: 180 + s, blockTable: a, logits: "last" },
      { tokenIds: [(s * 211) % 1000], startPosition: 13 + s, blockTable: b, logits: "last" }
    ], 8), cache))
  }
  return out
}

describe("tensor parallel over worker threads", () => {
  it("defaults to the cores (at most 4), and to 1 thread for models under 1M parameters", () => {
    expect(defaultTensorParallelSize(0.5e6)).toBe(1)
    expect(defaultTensorParallelSize(4e6)).toBe(Math.min(4, os.availableParallelism()))
    expect(defaultTensorParallelSize(135e6)).toBe(Math.min(4, os.availableParallelism()))
  })

  for (const dtype of ["bfloat16", "float32", "q8_0", "q4_0"] satisfies Array<MatrixStorage>) {
    it(`${dtype} weights: 1, 2 and 3 threads give the same logits bit for bit`, async () => {
      const one = await run(1, dtype)
      for (const threads of [2, 3]) {
        const many = await run(threads, dtype)
        expect(many.length).toBe(one.length)
        many.forEach((l, i) => expect(Buffer.from(l.buffer, l.byteOffset, l.byteLength).equals(Buffer.from(one[i].buffer, one[i].byteOffset, one[i].byteLength))).toBe(true))
      }
      // The steps computed something that varies (the comparison is not between constant arrays).
      expect(one[2].some((v, i) => v !== one[3][i])).toBe(true)
    }, 60_000)
  }
})
