/**
 * What one decoding sequence's steps cost at their best (back to back, caches and threads warm): the
 * parts a speculative step is made of, for bench/spec-decode.ts's cost model.
 * - the target's forward pass over `rows` new tokens of one sequence (all rows' logits, as verification
 *   asks), through the worker executor with `tensorParallelSize` threads;
 * - one draft-model pass over one new token, in process (where the draft model runs).
 * Steps of each size are measured in alternating rounds, so a drift in machine speed reaches all alike.
 */
import { buildForwardBatch } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import type { LoadedModel } from "../../src/engine/model-dir.ts"
import { WorkerExecutor } from "../../src/engine/worker-executor.ts"
import { stats, type Stats } from "./report.ts"

const BLOCK = 16
/** Tokens already in the sequence's cache: the middle of the bench's decode (a ~20-token opening + 128 new). */
const CONTEXT = 90
const ROUNDS = 6
const STEPS_PER_ROUND = 60

const context = (vocab: number) => Array.from({ length: CONTEXT }, (_, i) => 10 + ((i * 7) % (vocab - 10)))
const tableOf = (blocks: number) => Int32Array.from({ length: blocks }, (_, i) => i)

/** Median step time (ms) of the target for each of 1..maxRows new tokens, per round. */
export const targetStepMs = async (loaded: LoadedModel, maxRows: number, tensorParallelSize: number): Promise<Array<Stats>> => {
  const blocks = Math.ceil((CONTEXT + maxRows) / BLOCK) + 1
  const cache = new PagedKvCache(loaded.config, { numBlocks: blocks, blockSize: BLOCK, dtype: "f32" }, loaded.model.kernels.arena?.pools)
  const executor = new WorkerExecutor(loaded.model, cache, { tensorParallelSize })
  try {
    const tokens = context(loaded.config.vocabSize), blockTable = tableOf(blocks)
    await executor.execute(buildForwardBatch([{ tokenIds: tokens, startPosition: 0, blockTable, logits: "last" }], BLOCK))
    const perRows: Array<Array<number>> = Array.from({ length: maxRows }, () => [])
    for (let round = 0; round < ROUNDS; round++) {
      for (let rows = 1; rows <= maxRows; rows++) {
        const times: Array<number> = []
        for (let i = 0; i < STEPS_PER_ROUND; i++) {
          // The same positions each time: the rows overwrite their own KV slots.
          const batch = buildForwardBatch([{ tokenIds: tokens.slice(0, rows), startPosition: CONTEXT, blockTable, logits: "all" }], BLOCK)
          const t0 = performance.now()
          await executor.execute(batch)
          times.push(performance.now() - t0)
        }
        perRows[rows - 1].push(stats(times.slice(STEPS_PER_ROUND / 4)).median)
      }
    }
    return perRows.map(stats)
  } finally {
    await executor.close()
  }
}

/** Median time (ms) of one draft-model pass over one new token, in process, per round. */
export const draftPassMs = (draft: LoadedModel): Stats => {
  const blocks = Math.ceil((CONTEXT + 1) / BLOCK) + 1
  const cache = new PagedKvCache(draft.config, { numBlocks: blocks, blockSize: BLOCK, dtype: "f32" }, draft.model.kernels.arena?.pools)
  const tokens = context(draft.config.vocabSize), blockTable = tableOf(blocks)
  draft.model.forward(buildForwardBatch([{ tokenIds: tokens, startPosition: 0, blockTable, logits: "last" }], BLOCK), cache)
  const rounds: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const times: Array<number> = []
    for (let i = 0; i < STEPS_PER_ROUND * 4; i++) {
      const batch = buildForwardBatch([{ tokenIds: [tokens[i % CONTEXT]], startPosition: CONTEXT, blockTable, logits: "last" }], BLOCK)
      const t0 = performance.now()
      draft.model.forward(batch, cache)
      times.push(performance.now() - t0)
    }
    rounds.push(stats(times.slice(STEPS_PER_ROUND)).median)
  }
  return stats(rounds)
}
