import type { PagedKvCache } from "../kv-cache.ts"
import { blockBytes, bytesPerValue, type KvGeometry } from "./kv-transfer.ts"

/**
 * Copies whole physical blocks out of and into a paged KV cache, as bytes (f32 or f16, exactly as stored):
 * the prefill side reads the prompt's blocks, the decode side writes them into blocks it allocated.
 * Called between steps by the engine's owner, never while a forward pass is writing the pools.
 */
export class KvBlockIo {
  readonly geometry: KvGeometry
  private readonly cache: PagedKvCache

  constructor(cache: PagedKvCache) {
    this.cache = cache
    this.geometry = { numLayers: cache.k.length, blockSize: cache.blockSize, slotWidth: cache.slotWidth, dtype: cache.dtype }
  }

  /** The block's bytes: for each layer its K slice then its V slice. A fresh copy. */
  read(blockId: number): Uint8Array {
    const out = new Uint8Array(blockBytes(this.geometry))
    let at = 0
    this.eachSlice(blockId, (bytes) => {
      out.set(bytes, at)
      at += bytes.length
    })
    return out
  }

  /** Overwrites the block with bytes read() produced on an engine of the same geometry. */
  write(blockId: number, data: Uint8Array): void {
    if (data.length !== blockBytes(this.geometry)) throw new RangeError(`a block is ${blockBytes(this.geometry)} bytes, got ${data.length}`)
    let at = 0
    this.eachSlice(blockId, (bytes) => {
      bytes.set(data.subarray(at, at + bytes.length))
      at += bytes.length
    })
  }

  /** Byte views of the block's K and V slices, layer by layer (views into the pools, not copies). */
  private eachSlice(blockId: number, f: (bytes: Uint8Array) => void): void {
    const c = this.cache
    if (!Number.isInteger(blockId) || blockId <= 0 || blockId >= c.numBlocks) throw new RangeError(`block ${blockId} is outside the pool [1, ${c.numBlocks})`)
    const values = c.blockSize * c.slotWidth
    const bpv = bytesPerValue(c.dtype)
    for (let l = 0; l < c.k.length; l++) {
      for (const pool of [c.k[l], c.v[l]]) f(new Uint8Array(pool.buffer, pool.byteOffset + blockId * values * bpv, values * bpv))
    }
  }
}
