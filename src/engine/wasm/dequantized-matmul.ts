/**
 * Matmuls on quantized weights for steps of many rows (prefill, many streams): the weights of a group of
 * output columns are dequantized once into f32 scratch (dequant_T, the same code the quantized kernel
 * dequantizes with in registers) and the f32 kernel's tiles run over them. The quantized kernel
 * dequantizes each weight once per 4-row tile, as many instructions as the multiply-adds it feeds; here
 * that is once per step. Same bits: the quantized kernel's result is the f32 kernel's on the dequantized
 * matrix (tools/wasm-matmul-quant.ts), and the f32 kernel's result for a column does not depend on the
 * column range a call covers.
 */
import { QUANT_FORMATS, type MatrixStorage, type QuantFormat } from "../matrix.ts"
import type { WasmArena } from "./arena.ts"
import type { MatmulExport } from "./module.ts"

/** From this many rows the dequantized path is taken (fewer rows: dequantizing in registers costs less than the scratch's writes and reads). */
export const DEQUANTIZED_MIN_ROWS = 8

/** Scratch per group of columns: kept within L2 next to the x rows the f32 kernel streams. */
const SCRATCH_BYTES = 192 * 1024

type DequantExport = (dst: number, w: number, inDim: number, o0: number, o1: number) => void

/**
 * The matmul for weights in `format` as the kernels call it (same signature, same bits), taking the
 * dequantized path for steps of DEQUANTIZED_MIN_ROWS rows or more. One per thread: it owns its scratch.
 */
export const rowAwareQuantMatmul = (instance: WebAssembly.Instance, arena: WasmArena, format: QuantFormat): MatmulExport => {
  const quantized = instance.exports[`matmul_${format}`] as MatmulExport
  const dequant = instance.exports[`dequant_${format}`] as DequantExport
  const f32 = instance.exports.matmul_f32 as MatmulExport
  let scratch: Float32Array | null = null
  return (out, x, w, rows, inDim, outDim, bias, o0, o1) => {
    if (rows < DEQUANTIZED_MIN_ROWS) return quantized(out, x, w, rows, inDim, outDim, bias, o0, o1)
    // Columns per group: a multiple of 8 (whole tiles of every column width the f32 kernel uses).
    const columns = Math.max(8, Math.floor(SCRATCH_BYTES / (inDim * 4) / 8) * 8)
    if (scratch === null || scratch.length < columns * inDim) scratch = arena.allocF32(columns * inDim)
    const at = arena.rebase(scratch).byteOffset
    for (let c0 = o0; c0 < o1; c0 += columns) {
      const c1 = Math.min(o1, c0 + columns)
      dequant(at, w, inDim, c0, c1)
      // The f32 kernel reads column o's weights at w + 4 * o * inDim: a base placed so that column c0 is the scratch's first row
      // (32-bit address arithmetic wraps, as the kernel's does).
      f32(out, x, (at - 4 * c0 * inDim) | 0, rows, inDim, outDim, bias, c0, c1)
    }
  }
}

/** The kernels' matmuls with every quantized storage's replaced by its row-aware one (one set per thread). */
export const withDequantizedRows = (matmuls: Record<MatrixStorage, MatmulExport>, instance: WebAssembly.Instance, arena: WasmArena): Record<MatrixStorage, MatmulExport> => {
  const out = { ...matmuls }
  for (const format of QUANT_FORMATS) out[format] = rowAwareQuantMatmul(instance, arena, format)
  return out
}
