import { buildForwardBatch, type SequenceChunk } from "../../src/engine/batch.ts"
import type { PagedKvCache } from "../../src/engine/kv-cache.ts"
import type { CausalLM } from "../../src/engine/model.ts"

/**
 * A bare-bones sequence over a paged cache for runtime tests: takes physical blocks from a caller-owned
 * free list (in whatever order the test shuffled it) as its length grows.
 */
export class PagedSequence {
  readonly blocks: Array<number> = []
  computed = 0
  private readonly cache: PagedKvCache
  private readonly free: Array<number>
  constructor(cache: PagedKvCache, free: Array<number>) {
    this.cache = cache
    this.free = free
  }

  /** Chunk for the next `tokens`, allocating the blocks they need. */
  chunk(tokens: ArrayLike<number>, logits: SequenceChunk["logits"] = "last"): SequenceChunk {
    const needed = Math.ceil((this.computed + tokens.length) / this.cache.blockSize)
    while (this.blocks.length < needed) {
      const b = this.free.shift()
      if (b === undefined) throw new Error("test cache out of blocks")
      this.blocks.push(b)
    }
    const c: SequenceChunk = { tokenIds: tokens, startPosition: this.computed, blockTable: Int32Array.from(this.blocks), logits }
    this.computed += tokens.length
    return c
  }
}

/** Runs one step over several chunks; returns each chunk's logits rows, split per chunk. */
export const runStep = (model: CausalLM, cache: PagedKvCache, chunks: ReadonlyArray<SequenceChunk>): Array<Array<Float32Array>> => {
  const batch = buildForwardBatch(chunks, cache.blockSize)
  const logits = model.forward(batch, cache)
  const V = model.config.vocabSize
  let row = 0
  return chunks.map((c) => {
    const rows = c.logits === "all" ? c.tokenIds.length : c.logits === "last" && c.tokenIds.length > 0 ? 1 : 0
    const out: Array<Float32Array> = []
    for (let i = 0; i < rows; i++, row++) out.push(logits.slice(row * V, (row + 1) * V))
    return out
  })
}

export const argmax = (a: ArrayLike<number>): number => {
  let best = 0
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i
  return best
}

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}
