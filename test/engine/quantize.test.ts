import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { isQuantized, sharedAlloc, type LoadQuantization, type Matrix } from "../../src/engine/matrix.ts"
import { loadModelDir } from "../../src/engine/model-dir.ts"
import { quantizeMatrix } from "../../src/engine/quantize.ts"
import type { ModelWeights } from "../../src/engine/weights.ts"
import { convertToGguf, ggmlReference, smollm2ShapedCheckpoint, tempPath, ggufGolden } from "../support/gguf.ts"
import { bundledModelDir } from "../support/models.ts"
import { prng } from "../support/random-model.ts"

const FORMATS: ReadonlyArray<LoadQuantization> = ["q8_0", "q4_0"]

/** Rows of 512 values at several scales with the blocks quantizers get wrong: zeros, constants, one sign, a spike, halves. */
const hardInputs = (): Float32Array => {
  const rand = prng(11)
  const rows: Array<Float32Array> = []
  for (const scale of [1e-3, 0.02, 1, 300]) {
    for (let r = 0; r < 8; r++) rows.push(Float32Array.from({ length: 512 }, () => (rand() * 2 - 1) * scale))
    rows[rows.length - 8].fill(0)
    rows[rows.length - 7].fill(scale, 0, 256)
    rows[rows.length - 6].forEach((v, i, a) => (a[i] = Math.abs(v)))
    rows[rows.length - 5].forEach((v, i, a) => (a[i] = -Math.abs(v)))
    rows[rows.length - 4].fill(0)[7] = scale
    // Values on the rounding boundaries: k + 0.5 steps of the block's scale (ties of roundf and of the q4_0 truncation).
    rows[rows.length - 3].forEach((_, i, a) => (a[i] = ((i % 32) - 16 + 0.5) * scale / 8))
    rows[rows.length - 2].forEach((_, i, a) => (a[i] = ((i % 32) - 15.5) * scale))
  }
  const out = new Float32Array(rows.length * 512)
  rows.forEach((r, i) => out.set(r, i * 512))
  return out
}

const blocksOf = (m: Matrix): Uint8Array => (isQuantized(m) ? m.blocks : new Uint8Array(0))

describe("load-time quantization (--quantization)", () => {
  for (const format of FORMATS) {
    it(`${format}: the TypeScript quantizer writes ggml's own quantize_row_${format}_ref bytes (libggml-base via node-llama-cpp)`, () => {
      const x = hardInputs()
      const src = tempPath(`quant-in-${format}.f32`), dst = tempPath(`quant-out-${format}.bin`)
      fs.writeFileSync(src, new Uint8Array(x.buffer))
      ggmlReference("quantize", format, src, dst)
      const mine = quantizeMatrix(format, x, x.length / 512, 512, sharedAlloc).blocks
      expect(Buffer.from(mine).equals(fs.readFileSync(dst))).toBe(true)
    })
  }

  const golden = ggufGolden("smollm2-shaped")
  const checkpoints: ReadonlyArray<readonly [string, () => string]> = [
    ["the bundled model", () => bundledModelDir],
    ["the SmolLM2-shaped checkpoint", () => smollm2ShapedCheckpoint(golden.generator!.split(" ").slice(1))]
  ]
  const matrices = (w: ModelWeights): Array<Matrix> => [w.embed, ...w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])]
  for (const [name, dir] of checkpoints) {
    for (const format of FORMATS) {
      it(`${name} as ${format}: the same blocks as tools/hf_to_gguf.py --type ${format} writes, byte for byte`, () => {
        const mine = matrices(loadModelDir(dir(), { quantization: format }).model.weights)
        const theirs = matrices(loadModelDir(convertToGguf(dir(), format)).model.weights)
        let quantized = 0
        mine.forEach((m, i) => {
          // Rows that are not whole blocks stay unquantized on both sides (the bundled model's 688-wide down_proj).
          expect(isQuantized(m)).toBe(isQuantized(theirs[i]))
          if (!isQuantized(m)) return
          quantized++
          expect(m.format).toBe(format)
          expect(Buffer.from(blocksOf(m)).equals(Buffer.from(blocksOf(theirs[i])))).toBe(true)
        })
        expect(quantized).toBeGreaterThanOrEqual(mine.length - mine.length / 7)
      })
    }
  }

  it("is refused for a GGUF file, by name (its tensors are already quantized)", () => {
    expect(() => loadModelDir(convertToGguf(bundledModelDir, "q8_0"), { quantization: "q4_0" })).toThrow(
      /--quantization q4_0 applies to safetensors checkpoints; a GGUF file is already quantized/
    )
  })
})
