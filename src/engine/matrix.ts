import { dequantize } from "./gguf/dequantize.ts"

/**
 * Weight matrices kept at the checkpoint's precision (`--dtype`): f32 as a Float32Array, f16 as a
 * Float16Array, bf16 as its bit patterns in a Uint16Array (JavaScript has no bfloat16 array). The kernels
 * widen 16-bit weights to f32 exactly while they compute, so a 16-bit checkpoint is never stored twice
 * as large. These representations survive postMessage/workerData unchanged, which is why bf16 is a plain
 * Uint16Array and not a wrapper object.
 */
export type DenseMatrix = Float32Array | Float16Array | Uint16Array

/** Block formats kept quantized in memory (ggml's Q8_0, Q4_0, Q5_0, Q4_K, Q6_K), as GGUF files store them. */
export type QuantFormat = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q6_k"
export const QUANT_FORMATS: ReadonlyArray<QuantFormat> = ["q8_0", "q4_0", "q5_0", "q4_k", "q6_k"]
/** The formats `--quantization` produces at load (ggml's reference quantizers are ported for these). */
export type LoadQuantization = "q8_0" | "q4_0"
/** ggml's name of each format (the GGUF tensor type) and its block: `values` values in `bytes` bytes. */
export const QUANT_BLOCK: Record<QuantFormat, { readonly ggml: "Q8_0" | "Q4_0" | "Q5_0" | "Q4_K" | "Q6_K"; readonly values: number; readonly bytes: number }> = {
  q8_0: { ggml: "Q8_0", values: 32, bytes: 34 },
  q4_0: { ggml: "Q4_0", values: 32, bytes: 18 },
  q5_0: { ggml: "Q5_0", values: 32, bytes: 22 },
  q4_k: { ggml: "Q4_K", values: 256, bytes: 144 },
  q6_k: { ggml: "Q6_K", values: 256, bytes: 210 }
}

/**
 * A [rows, cols] matrix kept as ggml blocks exactly as a GGUF file stores them (each row cols / values
 * blocks of QUANT_BLOCK[format]), rows in Hugging Face order. A plain object of plain fields, so it too
 * survives postMessage/workerData (the blocks stay shared).
 */
export interface QuantizedMatrix {
  readonly format: QuantFormat
  readonly blocks: Uint8Array
  readonly rows: number
  readonly cols: number
}

export type Matrix = DenseMatrix | QuantizedMatrix

export const isQuantized = (m: Matrix): m is QuantizedMatrix => !ArrayBuffer.isView(m)

/** vLLM's names for the weight precisions (`--dtype`). */
export type WeightDtype = "float32" | "bfloat16" | "float16"
export const WEIGHT_DTYPES: ReadonlyArray<WeightDtype> = ["float32", "bfloat16", "float16"]

/** How a matrix is stored: a --dtype precision or a quantized block format. */
export type MatrixStorage = WeightDtype | QuantFormat
export const MATRIX_STORAGES: ReadonlyArray<MatrixStorage> = [...WEIGHT_DTYPES, ...QUANT_FORMATS]

export const matrixDtype = (m: Matrix): MatrixStorage =>
  isQuantized(m) ? m.format : m instanceof Float32Array ? "float32" : m instanceof Float16Array ? "float16" : "bfloat16"

/** The memory holding the matrix's values (its blocks when quantized). */
export const matrixData = (m: Matrix): DenseMatrix | Uint8Array => (isQuantized(m) ? m.blocks : m)

/** Number of values the matrix holds. */
export const matrixElements = (m: Matrix): number => (isQuantized(m) ? m.rows * m.cols : m.length)

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** The bf16 bits nearest to `x` (round to nearest even, as torch does; NaN stays NaN). */
export const toBf16Bits = (x: number): number => {
  f32[0] = x
  const b = u32[0]
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff
}

export const bf16BitsToNumber = (bits: number): number => {
  u32[0] = bits << 16
  return f32[0]
}

/** Row `row` of a [rows, cols] matrix as f32 values into dst[at, at + cols) (exact for every type). */
export const readRow = (m: Matrix, row: number, cols: number, dst: Float32Array, at = 0): void => {
  if (isQuantized(m)) {
    const bytes = (cols / QUANT_BLOCK[m.format].values) * QUANT_BLOCK[m.format].bytes
    dequantize(QUANT_BLOCK[m.format].ggml, m.blocks.subarray(row * bytes, (row + 1) * bytes), dst, at, cols)
    return
  }
  const start = row * cols
  if (!(m instanceof Uint16Array)) {
    dst.set(m.subarray(start, start + cols), at)
    return
  }
  const out = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, cols)
  for (let i = 0; i < cols; i++) out[i] = m[start + i] << 16
}

/** A matrix of `n` values in `dtype`, allocated by `alloc` for that type. */
export interface MatrixAlloc {
  f32(n: number): Float32Array
  f16(n: number): Float16Array
  bf16(n: number): Uint16Array
  /** Bytes (quantized blocks). */
  u8(n: number): Uint8Array
}

export const allocMatrix = (alloc: MatrixAlloc, dtype: WeightDtype, n: number): DenseMatrix =>
  dtype === "float32" ? alloc.f32(n) : dtype === "float16" ? alloc.f16(n) : alloc.bf16(n)

/** Plain shared memory (SharedArrayBuffer), so executor worker threads can share the weights. */
export const sharedAlloc: MatrixAlloc = {
  f32: (n) => new Float32Array(new SharedArrayBuffer(n * 4)),
  f16: (n) => new Float16Array(new SharedArrayBuffer(n * 2)),
  bf16: (n) => new Uint16Array(new SharedArrayBuffer(n * 2)),
  u8: (n) => new Uint8Array(new SharedArrayBuffer(n))
}

/** The matrix as f32 values: itself when it is f32, else a widened (exact) copy. */
export const toF32 = (m: Matrix): Float32Array => {
  if (m instanceof Float32Array) return m
  const out = new Float32Array(matrixElements(m))
  if (isQuantized(m)) for (let r = 0; r < m.rows; r++) readRow(m, r, m.cols, out, r * m.cols)
  else readRow(m, 0, m.length, out)
  return out
}
