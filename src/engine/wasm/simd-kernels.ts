import * as fs from "node:fs"
import { referenceKernels, type Kernels } from "../kernels.ts"
import { matrixDtype, type WeightDtype } from "../matrix.ts"
import { WasmArena } from "./arena.ts"

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

/** The WASM matmul for each stored weight type. */
export const matmulExports = (instance: WebAssembly.Instance): Record<WeightDtype, MatmulExport> => ({
  float32: instance.exports.matmul_f32 as MatmulExport,
  bfloat16: instance.exports.matmul_bf16 as MatmulExport,
  float16: instance.exports.matmul_f16 as MatmulExport
})

/**
 * Kernels whose matmul runs as WASM SIMD (128-bit) over tensors in a shared arena; everything else, and
 * any matmul whose operands live outside the arena, falls back to the reference kernels. The WASM matmul
 * keeps the exactness rule: an element's summation order does not depend on the batch (see matmul.wat).
 */
export const simdKernels = (arena: WasmArena): Kernels => {
  const instance = instantiateKernels(arena.memory)
  const matmul = matmulExports(instance)
  return {
    ...referenceKernels,
    name: "wasm-simd128",
    arena,
    alloc: (n) => arena.allocF32(n),
    matmul(out, x, w, rows, inDim, outDim, bias) {
      if (arena.owns(out) && arena.owns(x) && arena.owns(w) && (bias === null || arena.owns(bias))) {
        matmul[matrixDtype(w)](out.byteOffset, x.byteOffset, w.byteOffset, rows, inDim, outDim, bias === null ? 0 : bias.byteOffset, 0, outDim)
      } else {
        referenceKernels.matmul(out, x, w, rows, inDim, outDim, bias)
      }
    }
  }
}

/** Whether this runtime can run the SIMD kernels (WebAssembly SIMD and shared memory). */
export const simdSupported = (): boolean => {
  try {
    instantiateKernels(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }))
    return true
  } catch {
    return false
  }
}
