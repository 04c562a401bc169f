/**
 * Weight matrices kept at the checkpoint's precision (`--dtype`): f32 as a Float32Array, f16 as a
 * Float16Array, bf16 as its bit patterns in a Uint16Array (JavaScript has no bfloat16 array). The kernels
 * widen 16-bit weights to f32 exactly while they compute, so a 16-bit checkpoint is never stored twice
 * as large. These representations survive postMessage/workerData unchanged, which is why bf16 is a plain
 * Uint16Array and not a wrapper object.
 */
export type Matrix = Float32Array | Float16Array | Uint16Array

/** vLLM's names for the weight precisions (`--dtype`). */
export type WeightDtype = "float32" | "bfloat16" | "float16"
export const WEIGHT_DTYPES: ReadonlyArray<WeightDtype> = ["float32", "bfloat16", "float16"]

export const matrixDtype = (m: Matrix): WeightDtype =>
  m instanceof Float32Array ? "float32" : m instanceof Float16Array ? "float16" : "bfloat16"

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
}

export const allocMatrix = (alloc: MatrixAlloc, dtype: WeightDtype, n: number): Matrix =>
  dtype === "float32" ? alloc.f32(n) : dtype === "float16" ? alloc.f16(n) : alloc.bf16(n)

/** Plain shared memory (SharedArrayBuffer), so executor worker threads can share the weights. */
export const sharedAlloc: MatrixAlloc = {
  f32: (n) => new Float32Array(new SharedArrayBuffer(n * 4)),
  f16: (n) => new Float16Array(new SharedArrayBuffer(n * 2)),
  bf16: (n) => new Uint16Array(new SharedArrayBuffer(n * 2))
}

/** The matrix as f32 values: itself when it is f32, else a widened (exact) copy. */
export const toF32 = (m: Matrix): Float32Array => {
  if (m instanceof Float32Array) return m
  const out = new Float32Array(m.length)
  readRow(m, 0, m.length, out)
  return out
}
