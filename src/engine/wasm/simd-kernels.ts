import { referenceKernels, type Kernels, type MatmulItem } from "../kernels.ts"
import { matrixDtype } from "../matrix.ts"
import { WasmArena } from "./arena.ts"
import { instantiateKernels, matmulExports } from "./module.ts"
import type { ParallelGroup } from "./parallel-group.ts"
import { SimdAttention } from "./simd-attention.ts"

/**
 * Kernels whose matmuls and attention run as WASM SIMD over tensors in a shared arena; anything whose
 * operands live outside the arena falls back to the reference kernels. With a ParallelGroup, matmuls are
 * split by output columns and attention by heads over its threads. The exactness rule holds: an
 * element's summation order depends neither on the batch nor on the split (tools/wasm-matmul.ts).
 */
export const simdKernels = (arena: WasmArena, group: ParallelGroup | null = null): Kernels => {
  const instance = instantiateKernels(arena.memory)
  const matmul = matmulExports(instance)
  const attention = new SimdAttention(arena, instance)
  const inArena = (x: Float32Array, items: ReadonlyArray<MatmulItem>) =>
    arena.owns(x) && items.every((m) => arena.owns(m.out) && arena.owns(m.w) && (m.bias === null || arena.owns(m.bias)))
  return {
    ...referenceKernels,
    name: "wasm-simd128",
    arena,
    threads: group?.size ?? 1,
    alloc: (n) => arena.allocF32(n),
    matmul(out, x, w, rows, inDim, outDim, bias) {
      this.matmuls(x, rows, inDim, [{ out, w, outDim, bias }])
    },
    matmuls(x, rows, inDim, items) {
      if (!inArena(x, items)) return referenceKernels.matmuls.call(referenceKernels, x, rows, inDim, items)
      if (group !== null) return group.matmuls(x, rows, inDim, items)
      for (const m of items) {
        matmul[matrixDtype(m.w)](m.out.byteOffset, x.byteOffset, m.w.byteOffset, rows, inDim, m.outDim, m.bias === null ? 0 : m.bias.byteOffset, 0, m.outDim)
      }
    },
    pagedAttention(out, q, kCache, vCache, b) {
      const job = attention.prepare(out, q, kCache, vCache, b)
      if (job === null) referenceKernels.pagedAttention(out, q, kCache, vCache, b)
      else if (group !== null) group.attention(job)
      else attention.run(job, 0, b.numHeads)
    }
  }
}

