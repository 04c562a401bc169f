import { describe, expect, it } from "vitest"
import type { ForwardBatch } from "../../../src/engine/model.ts"
import { SchedulerRequest } from "../../../src/engine/request.ts"
import { DraftModelProposer, type DraftRunner } from "../../../src/engine/spec-decode/draft-proposer.ts"

// The draft proposer's own KV cache must hold exactly the sequence's tokens it claims: a fake draft
// model whose prediction depends on every cached position (as attention does) proposes what a fresh
// proposer, computing the whole sequence, proposes, through acceptances, rejections and plain steps.
const V = 50, BS = 4

/** A "model" over a paged cache of token ids: the next token is a position-weighted sum of every cached token. */
const fakeRunner = (numBlocks: number): DraftRunner => {
  const slots = new Int32Array(numBlocks * BS)
  return {
    vocabSize: V, numBlocks, blockSize: BS,
    execute: (b: ForwardBatch) => {
      for (let t = 0; t < b.tokenIds.length; t++) slots[b.slotMapping[t]] = b.tokenIds[t] + 1
      const out = new Float32Array(b.logitsIndices.length * V)
      b.logitsIndices.forEach((t, row) => {
        const table = b.blockTables[b.seqIndex[t]]
        let h = 0
        for (let p = 0; p <= b.positions[t]; p++) h = (h * 31 + slots[table[Math.floor(p / BS)] * BS + (p % BS)] * (p + 1)) % V
        out[row * V + h] = 1
      })
      return out
    }
  }
}

const fresh = (r: SchedulerRequest, k: number) => new DraftModelProposer(fakeRunner(32)).propose([{ req: r, maxDraft: k }]).get(r)

describe("draft proposer cache", () => {
  it("recomputes from the first position its cached tokens differ from the sequence's", () => {
    const cached = new DraftModelProposer(fakeRunner(32))
    const r = new SchedulerRequest({ id: "a", promptTokenIds: [3, 1, 4, 1, 5, 9, 2], maxTokens: 100, arrival: 0 })
    r.outputTokenIds.push(6)
    const drafts1 = cached.propose([{ req: r, maxDraft: 4 }]).get(r)!
    expect(drafts1).toEqual(fresh(r, 4))
    // Two drafts accepted, the third rejected (another token sampled).
    r.outputTokenIds.push(drafts1[0], drafts1[1], (drafts1[2] + 1) % V)
    expect(cached.propose([{ req: r, maxDraft: 4 }]).get(r)).toEqual(fresh(r, 4))
    // Plain steps past the drafts the cache holds (speculation off for a while), all different from them.
    const drafts2 = fresh(r, 4)!
    for (const d of drafts2) r.outputTokenIds.push((d + 7) % V)
    expect(cached.propose([{ req: r, maxDraft: 3 }]).get(r)).toEqual(fresh(r, 3))
  })

  it("gives nothing to a sequence its cache has no room for, and frees the blocks of forgotten sequences", () => {
    const cached = new DraftModelProposer(fakeRunner(3))
    const a = new SchedulerRequest({ id: "a", promptTokenIds: [1, 2, 3, 4, 5, 6, 7, 8], maxTokens: 100, arrival: 0 })
    const b = new SchedulerRequest({ id: "b", promptTokenIds: [1, 2, 3], maxTokens: 100, arrival: 1 })
    // a needs 8 + 4 - 1 = 11 positions: 3 blocks, all there are.
    const first = cached.propose([{ req: a, maxDraft: 4 }, { req: b, maxDraft: 4 }])
    expect(first.get(a)).toEqual(fresh(a, 4))
    expect(first.has(b)).toBe(false)
    cached.retain(new Set([b]))
    expect(cached.propose([{ req: b, maxDraft: 4 }]).get(b)).toEqual(fresh(b, 4))
  })
})
