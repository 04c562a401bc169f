import type { ModelConfig } from "./config.ts"
import type { KvStorage } from "./kernels.ts"
import { sharedAlloc, type MatrixAlloc } from "./matrix.ts"

export type KvDtype = "f32" | "f16"

export interface KvCacheShape {
  readonly numBlocks: number
  readonly blockSize: number
  readonly dtype: KvDtype
}

/**
 * The paged KV cache: per layer one K pool and one V pool of `numBlocks` fixed-size blocks, each slot
 * holding `numKvHeads * headDim` values. A token's K/V live at `slot = block * blockSize + offset`; only
 * block tables say which blocks belong to which sequence. Pools sit in SharedArrayBuffers so executor
 * worker threads can write and read them in place.
 */
export class PagedKvCache {
  readonly k: ReadonlyArray<KvStorage>
  readonly v: ReadonlyArray<KvStorage>
  readonly numBlocks: number
  readonly blockSize: number
  readonly dtype: KvDtype
  readonly slotWidth: number

  /**
   * `alloc` places the pools (a kernel backend's arena, where its WASM attention can read them); plain
   * SharedArrayBuffers by default.
   */
  constructor(config: ModelConfig, shape: KvCacheShape, alloc: Pick<MatrixAlloc, "f32" | "f16"> = sharedAlloc) {
    this.numBlocks = shape.numBlocks
    this.blockSize = shape.blockSize
    this.dtype = shape.dtype
    this.slotWidth = config.numKvHeads * config.headDim
    const values = shape.numBlocks * shape.blockSize * this.slotWidth
    const make = (): KvStorage => (shape.dtype === "f32" ? alloc.f32(values) : alloc.f16(values))
    this.k = Array.from({ length: config.numLayers }, make)
    this.v = Array.from({ length: config.numLayers }, make)
  }

  /** Bytes one block takes across all layers, K and V: the unit a memory budget is divided by. */
  static bytesPerBlock(config: ModelConfig, blockSize: number, dtype: KvDtype): number {
    return 2 * config.numLayers * blockSize * config.numKvHeads * config.headDim * (dtype === "f32" ? 4 : 2)
  }

  /**
   * Stores rows of K and V ([rows, slotWidth]) at the given slots of one layer. Rows going to consecutive
   * slots (a prompt chunk within a block) are copied as one run: a typed-array copy (converting to f16
   * where the pool is f16) instead of a loop per value.
   */
  write(layer: number, k: Float32Array, v: Float32Array, slots: Int32Array, rows: number): void {
    const kp = this.k[layer], vp = this.v[layer], w = this.slotWidth
    for (let r = 0; r < rows; ) {
      let n = 1
      while (r + n < rows && slots[r + n] === slots[r] + n) n++
      const dst = slots[r] * w
      kp.set(k.subarray(r * w, (r + n) * w), dst)
      vp.set(v.subarray(r * w, (r + n) * w), dst)
      r += n
    }
  }
}
