import { buildForwardBatch, type SequenceChunk } from "../batch.ts"
import type { ForwardBatch } from "../model.ts"
import type { SchedulerRequest } from "../request.ts"

/** The draft model's forward pass over its own paged KV cache (`numBlocks` blocks of `blockSize`). */
export interface DraftRunner {
  readonly vocabSize: number
  readonly numBlocks: number
  readonly blockSize: number
  execute(batch: ForwardBatch): Float32Array
}

interface DraftState {
  readonly blocks: Array<number>
  /** Tokens whose K/V the draft cache holds, positions 0..length-1. */
  readonly tokens: Array<number>
}

/**
 * Draft-model proposals (vLLM's draft_model method): a small model with the target's vocabulary
 * continues each sequence greedily for K tokens. It keeps its own paged KV cache with its own blocks per
 * sequence, so the target's scheduler and block tables are untouched; before proposing, the draft
 * catches up on the sequence's tokens it has not seen (and recomputes from where its own earlier drafts
 * were rejected). Any proposer is lossless: verification keeps a draft only when it equals the token the
 * target samples.
 */
export class DraftModelProposer {
  private readonly runner: DraftRunner
  private readonly free: Array<number>
  private readonly states = new Map<SchedulerRequest, DraftState>()

  constructor(runner: DraftRunner) {
    this.runner = runner
    this.free = Array.from({ length: runner.numBlocks }, (_, i) => runner.numBlocks - 1 - i)
  }

  /** Forgets the sequences not in `keep` (finished, aborted), returning their blocks. */
  retain(keep: ReadonlySet<SchedulerRequest>): void {
    for (const [r, st] of this.states) {
      if (!keep.has(r)) {
        this.free.push(...st.blocks)
        this.states.delete(r)
      }
    }
  }

  /** Up to `maxDraft` draft tokens for each sequence; a sequence the draft cache has no room for gets none. */
  propose(requests: ReadonlyArray<{ readonly req: SchedulerRequest; readonly maxDraft: number }>): Map<SchedulerRequest, Array<number>> {
    const out = new Map<SchedulerRequest, Array<number>>()
    const active: Array<{ req: SchedulerRequest; maxDraft: number; st: DraftState; table: Int32Array; start: number }> = []
    for (const { req, maxDraft } of requests) {
      if (maxDraft <= 0) continue
      const st = this.stateOf(req)
      // The last token is always recomputed: its logits give the first draft.
      const start = Math.min(commonPrefix(st.tokens, req), req.numTokens - 1)
      st.tokens.length = start
      if (!this.reserve(st, req.numTokens + maxDraft - 1)) continue
      active.push({ req, maxDraft, st, table: Int32Array.from(st.blocks), start })
      out.set(req, [])
    }
    if (active.length === 0) return out
    // First pass: catch up to the last token; then one token per pass, each feeding the previous draft.
    let chunks: Array<SequenceChunk> = active.map((a) => ({ tokenIds: a.req.tokens(a.start, a.req.numTokens), startPosition: a.start, blockTable: a.table, logits: "last" }))
    let rows = active
    for (let pass = 0; rows.length > 0; pass++) {
      const logits = this.runner.execute(buildForwardBatch(chunks, this.runner.blockSize))
      rows.forEach((a, i) => {
        if (pass === 0) for (let t = a.start; t < a.req.numTokens; t++) a.st.tokens.push(a.req.tokenAt(t))
        else a.st.tokens.push(out.get(a.req)![pass - 1])
        out.get(a.req)!.push(argmaxRow(logits, i, this.runner.vocabSize))
      })
      rows = rows.filter((a) => out.get(a.req)!.length < a.maxDraft)
      chunks = rows.map((a) => {
        const drafts = out.get(a.req)!
        return { tokenIds: [drafts[drafts.length - 1]], startPosition: a.req.numTokens + drafts.length - 1, blockTable: a.table, logits: "last" }
      })
    }
    return out
  }

  private stateOf(req: SchedulerRequest): DraftState {
    let st = this.states.get(req)
    if (st === undefined) this.states.set(req, (st = { blocks: [], tokens: [] }))
    return st
  }

  /** Blocks for `positions` tokens; false (nothing taken) when the draft cache is full. */
  private reserve(st: DraftState, positions: number): boolean {
    const need = Math.ceil(positions / this.runner.blockSize) - st.blocks.length
    if (need > this.free.length) return false
    for (let i = 0; i < need; i++) st.blocks.push(this.free.pop()!)
    return true
  }
}

const commonPrefix = (tokens: ReadonlyArray<number>, req: SchedulerRequest): number => {
  const n = Math.min(tokens.length, req.numTokens)
  let i = 0
  while (i < n && tokens[i] === req.tokenAt(i)) i++
  return i
}

const argmaxRow = (logits: Float32Array, row: number, vocab: number): number => {
  const off = row * vocab
  let best = 0
  for (let i = 1; i < vocab; i++) if (logits[off + i] > logits[off + best]) best = i
  return best
}
