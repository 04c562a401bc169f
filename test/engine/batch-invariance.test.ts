import { describe, expect, it } from "vitest"
import type { SequenceChunk } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { CausalLM } from "../../src/engine/model.ts"
import { makeKernels, type KernelBackend } from "../../src/engine/model-dir.ts"
import type { MatrixStorage } from "../../src/engine/matrix.ts"
import { castWeights, randomConfig, randomWeights, prng, weightsFor } from "../support/random-model.ts"
import { argmax, maxAbsDiff, PagedSequence, runStep } from "../support/paged-sequence.ts"

// A sequence's logits must not depend on what else is in the step, how its prompt is chunked, or how
// the cache is paged: that is what lets batching, chunked prefill and preemption never change a token.
const config = randomConfig({ num_key_value_heads: 2, vocab_size: 300, intermediate_size: 162 })
const weights = randomWeights(config, 7)

// q8_0 / q4_0: the matrices kept as blocks (intermediate_size 162 is no whole number of blocks: down stays f32).
const variants: Array<[KernelBackend, MatrixStorage]> = [
  ["reference", "float32"], ["simd", "float32"], ["simd", "bfloat16"], ["simd", "float16"], ["simd", "q8_0"], ["simd", "q4_0"], ["reference", "q4_0"]
]
for (const [backend, dtype] of variants) describe(`batch invariance (${backend} kernels, ${dtype} weights)`, () => {
const kernels = makeKernels(backend)
expect(kernels.name).toBe(backend === "simd" ? "wasm-simd128" : "reference-ts")
const model = new CausalLM(config, weightsFor(kernels, castWeights(weights, dtype)), kernels)
const rand = prng(42)
const randomTokens = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * config.vocabSize))
const prompt = randomTokens(37)
const DECODE_STEPS = 6

/** Prompt logits (every position) and the logits of each greedy decode step, the sequence alone. */
const runAlone = (blockSize: number) => {
  const cache = new PagedKvCache(config, { numBlocks: 64, blockSize, dtype: "f32" }, kernels.arena?.pools)
  const seq = new PagedSequence(cache, Array.from({ length: 64 }, (_, i) => i))
  const promptLogits = runStep(model, cache, [seq.chunk(prompt, "all")])[0]
  const decode: Array<Float32Array> = []
  let next = argmax(promptLogits[promptLogits.length - 1])
  for (let s = 0; s < DECODE_STEPS; s++) {
    const [rows] = runStep(model, cache, [seq.chunk([next])])
    decode.push(rows[0])
    next = argmax(rows[0])
  }
  return { promptLogits, decode }
}

/** The same sequence inside steps with 8 others (prefill chunks and decodes), chunked, on shuffled blocks. */
const runMixed = (blockSize: number, chunkSizes: ReadonlyArray<number>) => {
  const numBlocks = 200
  const free = Array.from({ length: numBlocks }, (_, i) => i)
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[free[i], free[j]] = [free[j], free[i]]
  }
  const cache = new PagedKvCache(config, { numBlocks, blockSize, dtype: "f32" }, kernels.arena?.pools)
  const others = [5, 13, 29, 50, 3, 64, 17, 40].map((len) => ({ seq: new PagedSequence(cache, free), prompt: randomTokens(len), last: 0 }))
  const target = new PagedSequence(cache, free)
  const otherChunks = (): Array<SequenceChunk> =>
    others.map((o) => {
      const remaining = o.prompt.length - o.seq.computed
      return remaining > 0 ? o.seq.chunk(o.prompt.slice(o.seq.computed, o.seq.computed + 11)) : o.seq.chunk([o.last])
    })
  const step = (targetChunk: SequenceChunk): Array<Float32Array> => {
    const chunks = otherChunks()
    chunks.splice(3, 0, targetChunk) // the target sits in the middle of the batch
    const rows = runStep(model, cache, chunks)
    rows.forEach((r, i) => {
      if (i === 3) return
      const o = others[i < 3 ? i : i - 1]
      if (r.length > 0 && o.seq.computed >= o.prompt.length) o.last = argmax(r[r.length - 1])
    })
    return rows[3]
  }
  const promptLogits: Array<Float32Array> = []
  let at = 0
  for (const n of chunkSizes) {
    promptLogits.push(...step(target.chunk(prompt.slice(at, at + n), "all")))
    at += n
  }
  const decode: Array<Float32Array> = []
  let next = argmax(promptLogits[promptLogits.length - 1])
  for (let s = 0; s < DECODE_STEPS; s++) {
    const [row] = step(target.chunk([next]))
    decode.push(row)
    next = argmax(row)
  }
  return { promptLogits, decode }
}

const worstDiff = (a: ReadonlyArray<Float32Array>, b: ReadonlyArray<Float32Array>) => {
  expect(a.length).toBe(b.length)
  return Math.max(...a.map((x, i) => maxAbsDiff(x, b[i])))
}

describe("one sequence", () => {
  const alone = runAlone(16)

  it("block size does not change a sequence's logits", () => {
    for (const bs of [1, 8, 32]) {
      const other = runAlone(bs)
      expect(worstDiff(other.promptLogits, alone.promptLogits)).toBeLessThanOrEqual(1e-5)
      expect(worstDiff(other.decode, alone.decode)).toBeLessThanOrEqual(1e-5)
    }
  })

  it("a step with 8 other sequences mixing prefill chunks and decodes gives the same logits", () => {
    for (const [bs, chunks] of [[16, [37]], [8, [10, 20, 7]], [32, [1, 35, 1]], [4, [16, 16, 5]]] as const) {
      const mixed = runMixed(bs, chunks)
      expect(worstDiff(mixed.promptLogits, alone.promptLogits)).toBeLessThanOrEqual(1e-5)
      expect(worstDiff(mixed.decode, alone.decode)).toBeLessThanOrEqual(1e-5)
    }
  })

  it("a prefill whose last row alone is read (the last layer computes only that row, K/V for all) gives that row's logits and the decodes after it bit for bit", () => {
    const cache = new PagedKvCache(config, { numBlocks: 64, blockSize: 16, dtype: "f32" }, kernels.arena?.pools)
    const seq = new PagedSequence(cache, Array.from({ length: 64 }, (_, i) => i))
    // In two chunks: the second one's attention reads the first one's last-layer K/V.
    runStep(model, cache, [seq.chunk(prompt.slice(0, 20), "none")])
    const [last] = runStep(model, cache, [seq.chunk(prompt.slice(20), "last")])
    expect(Array.from(last[0])).toEqual(Array.from(alone.promptLogits[prompt.length - 1]))
    let next = argmax(last[0])
    for (let s = 0; s < DECODE_STEPS; s++) {
      const [rows] = runStep(model, cache, [seq.chunk([next])])
      expect(Array.from(rows[0]), `decode step ${s}`).toEqual(Array.from(alone.decode[s]))
      next = argmax(rows[0])
    }
  })

  it("the check can fail: a different prompt gives different logits", () => {
    const cache = new PagedKvCache(config, { numBlocks: 8, blockSize: 16, dtype: "f32" }, kernels.arena?.pools)
    const seq = new PagedSequence(cache, [0, 1, 2, 3, 4, 5, 6, 7])
    const changed = [...prompt]
    changed[0] = (changed[0] + 1) % config.vocabSize
    const [rows] = runStep(model, cache, [seq.chunk(changed, "last")])
    expect(maxAbsDiff(rows[0], alone.promptLogits[prompt.length - 1])).toBeGreaterThan(1e-3)
  })
})
})
