import * as fs from "node:fs"
import { referenceKernels, type Kernels } from "../kernels.ts"
import { WasmArena } from "./arena.ts"

const wasmModule = new WebAssembly.Module(fs.readFileSync(new URL("./kernels.wasm", import.meta.url)))

type MatmulExport = (out: number, x: number, w: number, rows: number, inDim: number, outDim: number, bias: number) => void

/**
 * Kernels whose matmul runs as WASM SIMD (128-bit) over tensors in a shared arena; everything else, and
 * any matmul whose operands live outside the arena, falls back to the reference kernels. The WASM matmul
 * keeps the exactness rule: an element's summation order does not depend on the batch (see matmul.wat).
 */
export const simdKernels = (arena: WasmArena): Kernels => {
  const instance = new WebAssembly.Instance(wasmModule, { env: { memory: arena.memory } })
  const matmul = instance.exports.matmul as MatmulExport
  return {
    ...referenceKernels,
    name: "wasm-simd128",
    arena,
    alloc: (n) => arena.allocF32(n),
    matmul(out, x, w, rows, inDim, outDim, bias) {
      if (arena.owns(out) && arena.owns(x) && arena.owns(w) && (bias === null || arena.owns(bias))) {
        matmul(out.byteOffset, x.byteOffset, w.byteOffset, rows, inDim, outDim, bias === null ? 0 : bias.byteOffset)
      } else {
        referenceKernels.matmul(out, x, w, rows, inDim, outDim, bias)
      }
    }
  }
}

/** Whether this runtime can run the SIMD kernels (WebAssembly SIMD and shared memory). */
export const simdSupported = (): boolean => {
  try {
    new WebAssembly.Instance(wasmModule, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) } })
    return true
  } catch {
    return false
  }
}
