import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor } from "../../../src/engine/engine-core.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../../src/engine/scheduler.ts"

// Rejected drafts leave nothing behind: blocks that held only rejected positions go back to the pool,
// and no block is registered in the prefix cache with draft tokens.
const V = 8, BS = 4
/** A target that always predicts token 5, whatever the context. */
const always5: ModelExecutor = {
  vocabSize: V,
  execute: (batch) => {
    const out = new Float32Array(batch.logitsIndices.length * V)
    for (let r = 0; r < batch.logitsIndices.length; r++) out[r * V + 5] = 10
    return out
  }
}

describe("rollback of rejected drafts", () => {
  it("frees the blocks past the accepted tokens and caches only real tokens", () => {
    const core = new EngineCore({
      vocabSize: V, blockSize: BS, numBlocks: 16, enablePrefixCaching: true, eosTokenIds: [], tokenizer: null,
      speculative: { method: "ngram", numSpeculativeTokens: 4, promptLookupMin: 1, promptLookupMax: 3, disableByBatchSize: null },
      scheduler: defaultSchedulerConfig(64)
    })
    const prompt = [1, 2, 5, 1, 2, 5, 1, 2]
    core.add({ id: "a", promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 10, ignoreEos: true }) })
    // Step 1: prefill, samples 5. The suffix [1, 2, 5] occurred at 0: drafts [1, 2, 5, 1].
    expect(core.step(always5, 0).flatMap((o) => o.tokenIds)).toEqual([5])
    const r = core.scheduler.running[0]
    expect(r.specTokenIds).toEqual([1, 2, 5, 1])
    // Step 2: the last token and 4 drafts (positions 8..12, blocks 2..3); the target rejects the first draft.
    const plan = core.prepareStep(0)!
    expect(plan.chunks[0].numSpecTokens).toBe(4)
    expect([...plan.batch.tokenIds]).toEqual([5, 1, 2, 5, 1])
    expect(r.blocks.length).toBe(4)
    const freeBefore = core.kv.pool.numFree
    expect(core.completeStep(plan, always5.execute(plan.batch)).flatMap((o) => o.tokenIds)).toEqual([5])
    // 10 tokens, 9 in the KV cache: 3 blocks kept, the 4th (only drafts) freed.
    expect(r.numTokens).toBe(10)
    expect(r.numComputedTokens).toBe(9)
    expect(r.blocks.length).toBe(3)
    expect(core.kv.pool.numFree).toBe(freeBefore + 1)
    for (const [, b] of core.kv.pool.cachedEntries()) {
      const i = r.blocks.indexOf(b)
      expect(i).toBeGreaterThanOrEqual(0)
      expect(b.tokens).toEqual(r.tokens(i * BS, (i + 1) * BS))
    }
    core.checkInvariants()
    const st = core.stats().specDecode!
    expect(st).toMatchObject({ numDrafts: 1, numDraftTokens: 4, numAcceptedTokens: 0 })
    // The rest of the run (drafts after the 5s, some accepted) ends with every block back in the pool.
    while (core.has("a")) core.step(always5, 0)
    expect(core.kv.pool.usage).toBe(0)
    core.checkInvariants()
  })
})
