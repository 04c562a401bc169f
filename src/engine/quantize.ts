import { QUANT_BLOCK, type LoadQuantization, type MatrixAlloc, type QuantizedMatrix } from "./matrix.ts"

/**
 * Load-time quantization (`--quantization q8_0|q4_0`): ports of ggml's quantize_row_q8_0_ref and
 * quantize_row_q4_0_ref (ggml-quants.c), writing the blocks a GGUF file would hold, byte for byte as
 * tools/hf_to_gguf.py (tools/gguflib/quants.py) writes them.
 *
 * Why these JavaScript doubles give ggml's float32 results: each step below is one float32 operation
 * (division, product or sum of two float32 values), computed in double and rounded once with Math.fround;
 * double has more than 2 * 24 + 2 bits, so that equals the float32 operation. The f16 scale is rounded to
 * nearest even from the float32 value (GGML_FP32_TO_FP16), as a Float16Array store does.
 */

const half = new Float16Array(1)
const halfBits = new Uint16Array(half.buffer)

const putHalf = (dst: Uint8Array, at: number, v: number): void => {
  half[0] = v
  dst[at] = halfBits[0] & 0xff
  dst[at + 1] = halfBits[0] >> 8
}

/** C roundf (half away from zero) of a float32 value. */
const roundf = (v: number): number => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5))

/** quantize_row_q8_0_ref: per block of 32, d = amax / 127, q = roundf(x / d) (as x * (1 / d)). */
const quantizeQ8_0 = (x: Float32Array, at: number, dst: Uint8Array, o: number): void => {
  let amax = 0
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]))
  const d = Math.fround(amax / 127)
  const id = d !== 0 ? Math.fround(1 / d) : 0
  putHalf(dst, o, d)
  for (let j = 0; j < 32; j++) dst[o + 2 + j] = roundf(Math.fround(x[at + j] * id)) & 0xff
}

/**
 * quantize_row_q4_0_ref: per block of 32, max = the value of largest magnitude (the first such), d = max / -8,
 * q = MIN(15, (int8_t)(x / d + 8.5)); value j in the low nibble of byte j, value j + 16 in its high nibble.
 */
const quantizeQ4_0 = (x: Float32Array, at: number, dst: Uint8Array, o: number): void => {
  let amax = 0, max = 0
  for (let j = 0; j < 32; j++) {
    const v = x[at + j]
    if (amax < Math.abs(v)) {
      amax = Math.abs(v)
      max = v
    }
  }
  const d = Math.fround(max / -8)
  const id = d !== 0 ? Math.fround(1 / d) : 0
  putHalf(dst, o, d)
  const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)))
  for (let j = 0; j < 16; j++) dst[o + 2 + j] = q(x[at + j]) | (q(x[at + 16 + j]) << 4)
}

const QUANTIZERS: Record<LoadQuantization, typeof quantizeQ8_0> = { q8_0: quantizeQ8_0, q4_0: quantizeQ4_0 }

/** Whether a matrix with rows of `cols` values can be quantized (whole 32-value blocks, as ggml requires). */
export const quantizable = (cols: number): boolean => cols % 32 === 0

/** The [rows, cols] float32 matrix `values` as `format` blocks allocated by `alloc`. */
export const quantizeMatrix = (format: LoadQuantization, values: Float32Array, rows: number, cols: number, alloc: Pick<MatrixAlloc, "u8">): QuantizedMatrix => {
  if (!quantizable(cols)) throw new RangeError(`${format}: rows of ${cols} values are not whole 32-value blocks`)
  const { bytes } = QUANT_BLOCK[format]
  const blocks = alloc.u8((rows * cols / 32) * bytes)
  const quantize = QUANTIZERS[format]
  for (let b = 0; b < (rows * cols) / 32; b++) quantize(values, b * 32, blocks, b * bytes)
  return { format, blocks, rows, cols }
}
