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
  /**
   * Drafts computed ahead (proposeAhead) for the sequence as it would be after its verification: the
   * tokens it would have gained after position `from` (its tokens before never change), and the drafts.
   */
  ahead: { readonly from: number; readonly tokens: ReadonlyArray<number>; readonly drafts: ReadonlyArray<number> } | null
}

/** The tokens of a sequence as the proposer reads them: a request's, or a request's with tokens assumed after it. */
interface TokenSource {
  readonly numTokens: number
  tokenAt(i: number): number
  tokens(from: number, to: number): Array<number>
}

const withTokens = (req: SchedulerRequest, extra: ReadonlyArray<number>): TokenSource => {
  const n = req.numTokens
  return {
    numTokens: n + extra.length,
    tokenAt: (i) => (i < n ? req.tokenAt(i) : extra[i - n]),
    tokens: (from, to) => [...req.tokens(Math.min(from, n), Math.min(to, n)), ...extra.slice(Math.max(0, from - n), Math.max(0, to - n))]
  }
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
  /** Whether proposeAhead drafts (false: it does nothing, and every draft is computed by propose). */
  readonly ahead: boolean
  private readonly free: Array<number>
  private readonly states = new Map<SchedulerRequest, DraftState>()

  constructor(runner: DraftRunner, options: { readonly ahead?: boolean } = {}) {
    this.runner = runner
    this.ahead = options.ahead ?? true
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

  /**
   * Up to `maxDraft` draft tokens for each sequence; a sequence the draft cache has no room for gets none.
   * Drafts computed ahead for exactly the sequence's current tokens are taken as they are.
   */
  propose(requests: ReadonlyArray<{ readonly req: SchedulerRequest; readonly maxDraft: number }>): Map<SchedulerRequest, Array<number>> {
    const out = new Map<SchedulerRequest, Array<number>>()
    const rest: Array<{ key: SchedulerRequest; seq: TokenSource; maxDraft: number }> = []
    for (const { req, maxDraft } of requests) {
      const ahead = this.states.get(req)?.ahead ?? null
      if (ahead !== null && maxDraft > 0 && ahead.drafts.length >= maxDraft && aheadHolds(ahead, req)) out.set(req, ahead.drafts.slice(0, maxDraft))
      else rest.push({ key: req, seq: req, maxDraft })
    }
    for (const [req, drafts] of this.run(rest)) out.set(req, drafts)
    for (const { req } of requests) {
      const st = this.states.get(req)
      if (st !== undefined) st.ahead = null
    }
    return out
  }

  /**
   * While the target verifies `drafts` for each sequence (on another thread), drafts for the step after:
   * assuming every draft is accepted and the target's next token is the draft model's own guess, the
   * `maxDraft` drafts that would follow. propose() takes them when that assumption held; otherwise the
   * draft cache recomputes from where the sequence parted from it, as it always does.
   */
  proposeAhead(requests: ReadonlyArray<{ readonly req: SchedulerRequest; readonly drafts: ReadonlyArray<number>; readonly maxDraft: number }>): void {
    if (!this.ahead) return
    const wanted = requests.filter((r) => r.drafts.length > 0 && r.maxDraft > 0).map(({ req, drafts, maxDraft }) => ({ key: req, seq: withTokens(req, drafts), maxDraft: maxDraft + 1, drafts }))
    const made = this.run(wanted)
    for (const w of wanted) {
      const got = made.get(w.key)
      // The first of them is the guess of the token the target samples after the drafts.
      if (got !== undefined && got.length === w.maxDraft) this.states.get(w.key)!.ahead = { from: w.key.numTokens, tokens: [...w.drafts, got[0]], drafts: got.slice(1) }
    }
  }

  /** Greedy drafts for each sequence, in batched passes of the draft model over its own cache. */
  private run(requests: ReadonlyArray<{ readonly key: SchedulerRequest; readonly seq: TokenSource; readonly maxDraft: number }>): Map<SchedulerRequest, Array<number>> {
    const out = new Map<SchedulerRequest, Array<number>>()
    const active: Array<{ key: SchedulerRequest; seq: TokenSource; maxDraft: number; st: DraftState; table: Int32Array; start: number }> = []
    for (const { key, seq, maxDraft } of requests) {
      if (maxDraft <= 0) continue
      const st = this.stateOf(key)
      // The last token is always recomputed: its logits give the first draft.
      const start = Math.min(commonPrefix(st.tokens, seq), seq.numTokens - 1)
      st.tokens.length = start
      if (!this.reserve(st, seq.numTokens + maxDraft - 1)) continue
      active.push({ key, seq, maxDraft, st, table: Int32Array.from(st.blocks), start })
      out.set(key, [])
    }
    if (active.length === 0) return out
    // First pass: catch up to the last token; then one token per pass, each feeding the previous draft.
    let chunks: Array<SequenceChunk> = active.map((a) => ({ tokenIds: a.seq.tokens(a.start, a.seq.numTokens), startPosition: a.start, blockTable: a.table, logits: "last" }))
    let rows = active
    for (let pass = 0; rows.length > 0; pass++) {
      const logits = this.runner.execute(buildForwardBatch(chunks, this.runner.blockSize))
      rows.forEach((a, i) => {
        if (pass === 0) for (let t = a.start; t < a.seq.numTokens; t++) a.st.tokens.push(a.seq.tokenAt(t))
        else a.st.tokens.push(out.get(a.key)![pass - 1])
        out.get(a.key)!.push(argmaxRow(logits, i, this.runner.vocabSize))
      })
      rows = rows.filter((a) => out.get(a.key)!.length < a.maxDraft)
      chunks = rows.map((a) => {
        const drafts = out.get(a.key)!
        return { tokenIds: [drafts[drafts.length - 1]], startPosition: a.seq.numTokens + drafts.length - 1, blockTable: a.table, logits: "last" }
      })
    }
    return out
  }

  private stateOf(req: SchedulerRequest): DraftState {
    let st = this.states.get(req)
    if (st === undefined) this.states.set(req, (st = { blocks: [], tokens: [], ahead: null }))
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

/** Whether `req` now holds exactly the tokens drafts were computed ahead for. */
const aheadHolds = (ahead: NonNullable<DraftState["ahead"]>, req: SchedulerRequest): boolean =>
  req.numTokens === ahead.from + ahead.tokens.length && ahead.tokens.every((t, i) => req.tokenAt(ahead.from + i) === t)

const commonPrefix = (tokens: ReadonlyArray<number>, req: TokenSource): number => {
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
