import { describe, expect, it } from "vitest"
import { referenceKernels } from "../../src/engine/kernels.ts"
import { QUANT_BLOCK, sharedAlloc, toF32, type QuantFormat, type QuantizedMatrix } from "../../src/engine/matrix.ts"
import { quantizeMatrix } from "../../src/engine/quantize.ts"
import { WasmArena } from "../../src/engine/wasm/arena.ts"
import { instantiateKernels, matmulExports } from "../../src/engine/wasm/module.ts"
import { DEQUANTIZED_MIN_ROWS, withDequantizedRows } from "../../src/engine/wasm/dequantized-matmul.ts"
import { simdKernels } from "../../src/engine/wasm/simd-kernels.ts"
import { prng, uniformFiller } from "../support/random-model.ts"

// The WASM matmuls on Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K blocks (tools/wasm-matmul-quant.ts): they dequantize in registers and
// feed the f32 FMAs in the f32 kernel's order, so they must give exactly the f32 kernel's results on the
// dequantized matrix, whatever the batch and the column split.
const arena = WasmArena.create()
const simd = simdKernels(arena)
const rand = prng(5)
const fill = uniformFiller(rand)
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
const half = new Float16Array(1)
const halfBits = new Uint16Array(half.buffer)
const putHalf = (b: Uint8Array, at: number, v: number) => {
  half[0] = v
  b[at] = halfBits[0] & 0xff
  b[at + 1] = halfBits[0] >> 8
}

/**
 * A [rows, cols] matrix in `format`: Q8_0 / Q4_0 quantized from random values by the load-time quantizer;
 * Q5_0 / Q4_K / Q6_K as random bytes (every scale, min, high bit and quant pattern) with their f16 scales
 * set to finite values (there is no quantizer for them in TypeScript; GGUF files bring them).
 */
const quantized = (format: QuantFormat, rows: number, cols: number): QuantizedMatrix => {
  if (format === "q8_0" || format === "q4_0") return quantizeMatrix(format, fill(new Float32Array(rows * cols)), rows, cols, arena.matrices)
  const { values, bytes } = QUANT_BLOCK[format]
  const n = (rows * cols) / values
  const blocks = arena.allocU8(n * bytes)
  for (let i = 0; i < blocks.length; i++) blocks[i] = Math.floor(rand() * 256)
  for (let b = 0; b < n; b++) {
    if (format === "q4_k") {
      putHalf(blocks, b * bytes, (rand() - 0.3) * 0.01)
      putHalf(blocks, b * bytes + 2, rand() * 0.01)
    } else if (format === "q6_k") putHalf(blocks, b * bytes + 208, (rand() - 0.5) * 1e-3)
    else putHalf(blocks, b * bytes, (rand() - 0.5) * 0.01)
  }
  return { format, blocks, rows, cols }
}

const SHAPES: Record<"32" | "256", ReadonlyArray<readonly [number, number, number]>> = {
  "32": [[1, 64, 9], [3, 96, 10], [4, 128, 33], [7, 576, 9], [9, 32, 5], [16, 1536, 8], [70, 64, 11]],
  "256": [[1, 256, 9], [3, 512, 10], [4, 256, 33], [7, 768, 9], [16, 1536, 8], [70, 256, 11]]
}

for (const format of ["q8_0", "q4_0", "q5_0", "q4_k", "q6_k"] satisfies Array<QuantFormat>) {
  describe(`matmul on ${format} blocks`, () => {
    const make = (rows: number, inDim: number, outDim: number) => {
      const w = quantized(format, outDim, inDim)
      return { w, dense: arena.copy(toF32(w)), x: fill(arena.allocF32(rows * inDim)), bias: fill(arena.allocF32(outDim)) }
    }
    const block = QUANT_BLOCK[format].values === 32 ? "32" : "256"

    it.each(SHAPES[block])("%i rows, %i inputs, %i outputs: the f32 kernel's result on the dequantized matrix, bit for bit", (rows, inDim, outDim) => {
      const { w, dense, x, bias } = make(rows, inDim, outDim)
      const got = arena.allocF32(rows * outDim), f32 = arena.allocF32(rows * outDim), ref = new Float32Array(rows * outDim)
      simd.matmul(got, x, w, rows, inDim, outDim, bias)
      simd.matmul(f32, x, dense, rows, inDim, outDim, bias)
      expect(bits(got).equals(bits(f32))).toBe(true)
      // And the reference kernels read the blocks too (row by row), agreeing within f32 rounding.
      referenceKernels.matmul(ref, x, w, rows, inDim, outDim, bias)
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(1e-5 * Math.sqrt(inDim))
      expect(got.some((v, i) => v !== ref[i])).toBe(true)
    })

    it("a row's result does not depend on the batch, nor a column's on the column split (thread-count invariance)", () => {
      const exports = matmulExports(instantiateKernels(arena.memory))[format]
      const rows = 70, inDim = block === "32" ? 96 : 512, outDim = 37
      const { w, x, bias } = make(rows, inDim, outDim)
      const whole = arena.allocF32(rows * outDim), part = arena.allocF32(rows * outDim)
      exports(whole.byteOffset, x.byteOffset, w.blocks.byteOffset, rows, inDim, outDim, bias.byteOffset, 0, outDim)
      for (const cuts of [[0, 1, 37], [0, 13, 26, 37], [0, 5, 6, 19, 37]]) {
        part.fill(0)
        for (let i = 0; i + 1 < cuts.length; i++) exports(part.byteOffset, x.byteOffset, w.blocks.byteOffset, rows, inDim, outDim, bias.byteOffset, cuts[i], cuts[i + 1])
        expect(bits(part).equals(bits(whole))).toBe(true)
      }
      // Each batch size puts row r in another tile (4-row tiles of 2 or 1 columns, 1-row tiles of 2 or 1).
      for (const batch of [1, 2, 5, 9]) {
        for (let r = 0; r + batch <= rows; r += 17) {
          const out = arena.allocF32(batch * outDim)
          exports(out.byteOffset, x.byteOffset + r * inDim * 4, w.blocks.byteOffset, batch, inDim, outDim, bias.byteOffset, 0, outDim)
          expect(bits(out).equals(bits(whole.subarray(r * outDim, (r + batch) * outDim)))).toBe(true)
        }
      }
    })

    it("steps of 8+ rows (weights dequantized once per step into scratch, f32 tiles) give the quantized kernel's bits, whatever the column split", () => {
      const instance = instantiateKernels(arena.memory)
      const raw = matmulExports(instance)[format], rowAware = withDequantizedRows(matmulExports(instance), instance, arena)[format]
      // 1536 inputs: 32 columns per scratch group, so 75 columns take three groups (32, 32, 11).
      const rows = DEQUANTIZED_MIN_ROWS + 12, inDim = 1536, outDim = 75
      const { w, x, bias } = make(rows, inDim, outDim)
      const want = arena.allocF32(rows * outDim), got = arena.allocF32(rows * outDim)
      raw(want.byteOffset, x.byteOffset, w.blocks.byteOffset, rows, inDim, outDim, bias.byteOffset, 0, outDim)
      for (const cuts of [[0, 75], [0, 40, 75], [0, 3, 33, 70, 75]]) {
        got.fill(0)
        for (let i = 0; i + 1 < cuts.length; i++) rowAware(got.byteOffset, x.byteOffset, w.blocks.byteOffset, rows, inDim, outDim, bias.byteOffset, cuts[i], cuts[i + 1])
        expect(bits(got).equals(bits(want)), `cuts ${cuts}`).toBe(true)
      }
    })
  })
}

describe("quantized matmul memory reads", () => {
  it("reads no byte past the matrix (the look-ahead load is clamped): a Q8_0 matrix ending where the memory ends", () => {
    const own = WasmArena.create()
    const kernels = simdKernels(own)
    const inDim = 64, outDim = 3, bytes = outDim * (inDim / 32) * QUANT_BLOCK.q8_0.bytes // 204, allocated as 208
    const x = fill(own.allocF32(inDim)), out = own.allocF32(outDim), want = own.allocF32(outDim)
    const values = fill(new Float32Array(outDim * inDim))
    const dense = own.copy(toF32(quantizeMatrix("q8_0", values, outDim, inDim, sharedAlloc)))
    const end = Math.max(own.memory.buffer.byteLength, Math.ceil((own.bytesUsed + 208) / 65536) * 65536)
    own.allocU8(end - 208 - own.bytesUsed)
    const w = quantizeMatrix("q8_0", values, outDim, inDim, own.matrices)
    expect(w.blocks.byteOffset + 208).toBe(own.memory.buffer.byteLength)
    expect(w.blocks.length).toBe(bytes)
    kernels.matmul(out, x, w, 1, inDim, outDim, null)
    kernels.matmul(want, x, dense, 1, inDim, outDim, null)
    expect(bits(out).equals(bits(want))).toBe(true)
  })
})

