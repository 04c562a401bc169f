import { referenceKernels, type Kernels, type MatmulItem } from "../kernels.ts"
import { matrixData } from "../matrix.ts"
import { WasmArena } from "./arena.ts"
import { elementwiseExports, instantiateKernels } from "./module.ts"
import type { ParallelGroup } from "./parallel-group.ts"
import { SimdAttention } from "./simd-attention.ts"
import { matmulsByPlace, runMatmulCall, WeightStaging } from "./weight-staging.ts"

/**
 * Kernels whose matmuls and attention run as WASM SIMD over tensors in a shared arena; anything whose
 * operands live outside the arena falls back to the reference kernels. With a ParallelGroup, matmuls are
 * split by output columns and attention by (token, KV head) units over its threads. The exactness rule holds: an
 * element's summation order depends neither on the batch nor on the split (tools/wasm-matmul.ts).
 * Weights in a weight memory (models over 4 GiB, arena.ts) are multiplied there on staged rows.
 */
export const simdKernels = (arena: WasmArena, group: ParallelGroup | null = null): Kernels => {
  const instance = instantiateKernels(arena.memory)
  const matmul = matmulsByPlace(arena, instance)
  const staging = new WeightStaging(arena)
  const attention = new SimdAttention(arena, instance)
  const ew = elementwiseExports(instance)
  // Below these sizes an operation is shorter than waking the helpers; rank 0 runs it alone (same code, same bits).
  const parallel = (work: number) => group !== null && work >= 32768
  const inArena = (x: Float32Array, items: ReadonlyArray<MatmulItem>) =>
    arena.owns(x) && items.every((m) => arena.owns(m.out) && arena.placeOf(matrixData(m.w)) >= 0 && (m.bias === null || arena.owns(m.bias)))
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
      const { calls, copyBack } = staging.stage(x, rows, inDim, items)
      if (group !== null) group.matmuls(calls)
      else for (const c of calls) runMatmulCall(matmul, c)
      copyBack()
    },
    rmsNorm(out, x, weight, rows, dim, eps) {
      if (!(arena.owns(out) && arena.owns(x) && arena.owns(weight))) return referenceKernels.rmsNorm(out, x, weight, rows, dim, eps)
      if (parallel(rows * dim)) group!.rmsNorm(out, x, weight, rows, dim, eps)
      else ew.rms_norm(out.byteOffset, x.byteOffset, weight.byteOffset, 0, rows, dim, eps)
    },
    siluMul(gate, up, n) {
      if (!(arena.owns(gate) && arena.owns(up))) return referenceKernels.siluMul(gate, up, n)
      if (parallel(n)) group!.pointwise("silu", gate, up, n)
      else ew.silu_mul(gate.byteOffset, up.byteOffset, 0, n)
    },
    addInPlace(h, x, n) {
      if (!(arena.owns(h) && arena.owns(x))) return referenceKernels.addInPlace(h, x, n)
      if (parallel(n)) group!.pointwise("add", h, x, n)
      else ew.add_in_place(h.byteOffset, x.byteOffset, 0, n)
    },
    pagedAttention(out, q, kCache, vCache, b) {
      const job = attention.prepare(out, q, kCache, vCache, b)
      if (job === null) referenceKernels.pagedAttention(out, q, kCache, vCache, b)
      else if (group !== null) group.attention(job)
      else attention.run(job, 0, attention.units(job))
    }
  }
}

