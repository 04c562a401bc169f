import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { logSoftmax } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { loadModelDir, type LoadedModel } from "../../src/engine/model-dir.ts"
import { argmax, PagedSequence, runStep } from "../support/paged-sequence.ts"

// Prompt log-probs against a float64 PyTorch reference (tools/llama_torch.py), prefill in one step and
// token by token through the paged cache, plus the reference's greedy continuation.
interface GoldenCase {
  readonly name: string
  readonly text?: string
  readonly input_ids: ReadonlyArray<number>
  readonly token_logprobs: ReadonlyArray<number>
  readonly last_logprobs: ReadonlyArray<number>
  readonly greedy: ReadonlyArray<number>
}

const root = path.join(import.meta.dirname, "..", "..")
const CHECKPOINTS = [
  "test/fixtures/checkpoints/llama-gqa-untied-f32",
  "test/fixtures/checkpoints/qwen2-bias-tied-bf16",
  "test/fixtures/checkpoints/llama3-rope-f16",
  "test/fixtures/checkpoints/mistral-f32",
  "models/inferline-kjv",
  "models/inferline-kjv-draft"
]
const TOLERANCE = 1e-3

const newCache = (m: LoadedModel, tokens: number, blockSize = 16) =>
  new PagedKvCache(m.config, { numBlocks: Math.ceil(tokens / blockSize) + 2, blockSize, dtype: "f32" }, m.model.kernels.arena?.pools)

const worst = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  expect(got.length).toBe(want.length)
  let m = 0
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]))
  return m
}

for (const rel of CHECKPOINTS) {
  const dir = path.join(root, rel)
  describe(`parity with the PyTorch float64 reference: ${rel}`, () => {
    const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8")) as { cases: Array<GoldenCase> }
    const m = loadModelDir(dir)
    const V = m.config.vocabSize

    for (const c of golden.cases) {
      const ids = c.input_ids
      it(`${c.name}: prefill in one step`, () => {
        const cache = newCache(m, ids.length)
        const seq = new PagedSequence(cache, Array.from({ length: cache.numBlocks }, (_, i) => i))
        const [rows] = runStep(m.model, cache, [seq.chunk(ids, "all")])
        const tokenLp = ids.slice(1).map((t, i) => logSoftmax(rows[i], 0, V)[t])
        expect(worst(tokenLp, c.token_logprobs)).toBeLessThanOrEqual(TOLERANCE)
        expect(worst(logSoftmax(rows[rows.length - 1], 0, V), c.last_logprobs)).toBeLessThanOrEqual(TOLERANCE)
      })

      it(`${c.name}: token by token through the paged cache, then the greedy continuation`, () => {
        const total = ids.length + c.greedy.length
        const cache = newCache(m, total, 4)
        // Blocks handed out in reverse so that logical and physical order differ.
        const seq = new PagedSequence(cache, Array.from({ length: cache.numBlocks }, (_, i) => cache.numBlocks - 1 - i))
        const tokenLp: Array<number> = []
        let last!: Float32Array
        for (let i = 0; i < ids.length; i++) {
          ;[[last]] = runStep(m.model, cache, [seq.chunk([ids[i]])])
          if (i + 1 < ids.length) tokenLp.push(logSoftmax(last, 0, V)[ids[i + 1]])
        }
        expect(worst(tokenLp, c.token_logprobs)).toBeLessThanOrEqual(TOLERANCE)
        expect(worst(logSoftmax(last, 0, V), c.last_logprobs)).toBeLessThanOrEqual(TOLERANCE)
        const greedy: Array<number> = []
        for (let i = 0; i < c.greedy.length; i++) {
          const next = argmax(last)
          greedy.push(next)
          ;[[last]] = runStep(m.model, cache, [seq.chunk([next])])
        }
        expect(greedy).toEqual(c.greedy)
      })

      if (c.text !== undefined && m.tokenizer !== null) {
        it(`${c.name}: the tokenizer encodes the text to the reference ids`, () => {
          expect(m.tokenizer!.encode(c.text!)).toEqual(ids)
          expect(m.tokenizer!.decode(ids, false)).toBe(c.text)
        })
      }
    }
  })
}
