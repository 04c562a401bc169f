import { afterAll, describe, expect, it } from "vitest"
import { buildForwardBatch } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { matrixData, type MatrixStorage } from "../../src/engine/matrix.ts"
import { CausalLM } from "../../src/engine/model.ts"
import { WasmArena } from "../../src/engine/wasm/arena.ts"
import { startParallelGroup, type ParallelGroup } from "../../src/engine/wasm/parallel-group.ts"
import { simdKernels } from "../../src/engine/wasm/simd-kernels.ts"
import { mapWeights } from "../../src/engine/weights.ts"
import { castWeights, randomConfig, randomWeights } from "../support/random-model.ts"

// Models over 4 GiB keep weight matrices in further memories (arena.ts) and multiply them there on staged
// copies of the rows (weight-staging.ts). Keeping the whole main memory free for the KV cache puts every
// matrix of this small model there too: the logits must be the main-memory ones, bit for bit, on 1 and 2
// threads, for dense and quantized weights, prefill (the quantized types' dequantized path) and decode.
const config = randomConfig({ hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 2, num_attention_heads: 8, num_key_value_heads: 2, vocab_size: 2000, attention_bias: true })
const base = randomWeights(config, 9)
const groups: Array<ParallelGroup> = []
afterAll(() => Promise.all(groups.map((g) => g.close())))

const ALL_OF_MAIN_MEMORY = 4 * 2 ** 30

const run = async (threads: number, dtype: MatrixStorage, keepFree?: number) => {
  const arena = WasmArena.create(undefined, keepFree)
  // Weights first: helper threads attach the weight memories that exist when they start.
  const weights = mapWeights(castWeights(base, dtype), (t) => arena.copy(t))
  const group = threads > 1 ? await startParallelGroup(arena, threads) : null
  if (group) groups.push(group)
  const model = new CausalLM(config, weights, simdKernels(arena, group))
  const cache = new PagedKvCache(config, { numBlocks: 40, blockSize: 8, dtype: "f32" }, arena.pools)
  const a = Int32Array.from({ length: 24 }, (_, i) => 39 - i)
  const prompt = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 2000)
  const logits = [model.forward(buildForwardBatch([{ tokenIds: prompt, startPosition: 0, blockTable: a, logits: "all" }], 8), cache)]
  for (let s = 0; s < 3; s++) logits.push(model.forward(buildForwardBatch([{ tokenIds: [(s * 101) % 2000], startPosition: 150 + s, blockTable: a, logits: "last" }], 8), cache))
  return { arena, weights, logits }
}

const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength))

describe("weight memories (models over 4 GiB)", () => {
  for (const dtype of ["bfloat16", "q8_0", "q4_0"] satisfies Array<MatrixStorage>) {
    it(`${dtype}: matrices in a weight memory give the main-memory logits bit for bit, on 1 and 2 threads`, async () => {
      const main = await run(1, dtype)
      expect(main.arena.weightArenas.length).toBe(0)
      for (const threads of [1, 2]) {
        const spilled = await run(threads, dtype, ALL_OF_MAIN_MEMORY)
        // The projections and embeddings moved; the norms (small, read by the element-wise kernels) did not.
        expect(spilled.arena.weightArenas.length).toBe(1)
        const l = spilled.weights.layers[0]
        for (const m of [l.up, l.gate, l.down, spilled.weights.lmHead]) expect(spilled.arena.placeOf(matrixData(m))).toBe(1)
        expect(spilled.arena.placeOf(l.inputNorm)).toBe(0)
        spilled.logits.forEach((x, i) => expect(same(x, main.logits[i])).toBe(true))
      }
      expect(main.logits[1].some((v, i) => v !== main.logits[2][i])).toBe(true)
    }, 60_000)
  }

  it("a main memory filled past 2 GiB (KV cache, then workspaces at addresses over 2^31) gives the same logits", async () => {
    const low = await run(2, "bfloat16")
    const arena = WasmArena.create()
    arena.pools.f32(2.2 * 2 ** 28) // 2.2 GiB of KV pool before the model's workspaces
    const weights = mapWeights(castWeights(base, "bfloat16"), (t) => arena.copy(t))
    const model = new CausalLM(config, weights, simdKernels(arena, null))
    const cache = new PagedKvCache(config, { numBlocks: 40, blockSize: 8, dtype: "f32" }, arena.pools)
    const prompt = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 2000)
    const logits = model.forwardInWorkspace(buildForwardBatch([{ tokenIds: prompt, startPosition: 0, blockTable: Int32Array.from({ length: 24 }, (_, i) => 39 - i), logits: "all" }], 8), cache)
    expect(logits.byteOffset).toBeGreaterThan(2 ** 31)
    expect(same(logits, low.logits[0])).toBe(true)
  }, 60_000)

  it("a KV cache that leaves no room in the main memory is refused with the sizes", () => {
    const arena = WasmArena.create()
    arena.pools.f32(2 ** 28) // 1 GiB
    expect(() => arena.pools.f32(2 ** 30)).toThrow(/holds at most 4 GiB \(wasm32\): 1\.00 GiB are in use and 4\.00 GiB more were requested/)
  })
})
