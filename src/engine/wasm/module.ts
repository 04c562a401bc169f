import * as fs from "node:fs"
import type { MatrixStorage } from "../matrix.ts"

/** The compiled kernels; null where this runtime lacks SIMD, relaxed SIMD or threads (then the reference kernels run). */
const wasmModule = (() => {
  try {
    return new WebAssembly.Module(fs.readFileSync(new URL("./kernels.wasm", import.meta.url)))
  } catch {
    return null
  }
})()

/** The kernels instantiated on a shared memory (one instance per thread). */
export const instantiateKernels = (memory: WebAssembly.Memory): WebAssembly.Instance => {
  if (wasmModule === null) throw new Error("this runtime cannot run the WASM SIMD kernels (needs SIMD, relaxed SIMD and shared memory)")
  return new WebAssembly.Instance(wasmModule, { env: { memory } })
}

/** Computes output columns [o0, o1) of every row (see tools/wasm-matmul.ts). */
export type MatmulExport = (out: number, x: number, w: number, rows: number, inDim: number, outDim: number, bias: number, o0: number, o1: number) => void

/** The WASM matmul for each weight storage (quantized ones: tools/wasm-matmul-quant.ts). */
export const matmulExports = (instance: WebAssembly.Instance): Record<MatrixStorage, MatmulExport> => ({
  float32: instance.exports.matmul_f32 as MatmulExport,
  bfloat16: instance.exports.matmul_bf16 as MatmulExport,
  float16: instance.exports.matmul_f16 as MatmulExport,
  q8_0: instance.exports.matmul_q8_0 as MatmulExport,
  q4_0: instance.exports.matmul_q4_0 as MatmulExport,
  q5_0: instance.exports.matmul_q5_0 as MatmulExport,
  q4_k: instance.exports.matmul_q4_k as MatmulExport,
  q6_k: instance.exports.matmul_q6_k as MatmulExport
})

/** Whether this runtime can run the SIMD kernels (WebAssembly SIMD and shared memory). */
export const simdSupported = (): boolean => {
  try {
    instantiateKernels(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }))
    return true
  } catch {
    return false
  }
}

/** The element-wise kernels of kernels.wat, each over a range (rows or elements) so threads can share one call. */
export interface ElementwiseExports {
  readonly rms_norm: (out: number, x: number, w: number, r0: number, r1: number, dim: number, eps: number) => void
  readonly silu_mul: (gate: number, up: number, i0: number, i1: number) => void
  readonly add_in_place: (h: number, x: number, i0: number, i1: number) => void
}

export const elementwiseExports = (instance: WebAssembly.Instance): ElementwiseExports => instance.exports as unknown as ElementwiseExports
