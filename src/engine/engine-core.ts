import { buildForwardBatch, type SequenceChunk } from "./batch.ts"
import { IncrementalDetokenizer } from "./detokenizer.ts"
import { GuidedSequence } from "./guided/guided-sequence.ts"
import { KvCacheManager } from "./kv-cache-manager.ts"
import { Pooler, type PoolingType } from "./pooling.ts"
import type { ForwardBatch } from "./model.ts"
import { SchedulerRequest } from "./request.ts"
import type { KvBlockIo } from "./kv-transfer/kv-block-io.ts"
import type { KvTransfer } from "./kv-transfer/kv-transfer.ts"
import { emptyKvTransferStats, type KvTransferStats } from "./kv-transfer/kv-transfer-stats.ts"
import { kvTransferRefusal } from "./kv-transfer/transfer-refusal.ts"
import { exportPromptBlocks, importPromptBlocks } from "./kv-transfer/prompt-blocks.ts"
import { promptLogprobs, RequestSampler, Rng, type SampledToken } from "./sampler.ts"
import type { SamplingParams } from "./sampling-params.ts"
import { Scheduler, type ScheduledChunk, type SchedulerConfig } from "./scheduler.ts"
import { emptySpecDecodeStats, type SpecDecodeStats, type SpeculativeConfig } from "./spec-decode/config.ts"
import type { DraftModelProposer } from "./spec-decode/draft-proposer.ts"
import { proposeNgram } from "./spec-decode/ngram-proposer.ts"
import { StopChecker } from "./stop-checker.ts"
import type { TextTokenizer } from "./tokenizer.ts"

/** Runs one step's forward pass: the seam between the engine core and wherever the model runs. */
export interface ModelExecutor {
  readonly vocabSize: number
  execute(batch: ForwardBatch): Float32Array
}

export interface EngineCoreOptions {
  readonly vocabSize: number
  /** The model's hidden size: the length of an embedding (needed only for embedding requests). */
  readonly hiddenSize?: number
  readonly blockSize: number
  readonly numBlocks: number
  readonly enablePrefixCaching: boolean
  readonly scheduler: SchedulerConfig
  readonly eosTokenIds: ReadonlyArray<number>
  readonly tokenizer: TextTokenizer | null
  /** Speculative decoding (n-gram prompt lookup, or a draft model); off when absent. */
  readonly speculative?: SpeculativeConfig | null
  /** The draft model's proposer, for method draft_model. */
  readonly draftProposer?: DraftModelProposer | null
  /** Access to the KV pool's bytes, for disaggregated prefill/decode (kvExport / kvImport); none: refused. */
  readonly kvBlocks?: KvBlockIo | null
}

export interface AddRequestSpec {
  readonly id: string
  readonly promptTokenIds: ReadonlyArray<number>
  readonly params: SamplingParams
  readonly priority?: number
  readonly cacheSalt?: string | null
  /** Sibling index for n > 1: derives a distinct, reproducible RNG stream from the request's seed. */
  readonly seqIndex?: number
  /** The n > 1 siblings of one request share this id (and so their prompt blocks); defaults to `id`. */
  readonly groupId?: string
  /** An embedding request: its prompt is prefilled and pooled, nothing is generated, its blocks are freed. */
  readonly pooling?: PoolingType
  /** false: this request never gets draft tokens, even when the engine speculates. */
  readonly speculate?: boolean
  /**
   * Disaggregated prefill: after the first token the request ends here and its prompt's KV leaves with
   * that output (RequestOutput.kvTransfer) under this transfer id, for a decode engine to continue.
   */
  readonly kvExport?: string
  /** Disaggregated decode: the prompt's KV and first token come from a prefill engine; decoding continues from there. */
  readonly kvImport?: KvTransfer
}

export type FinishReason = "stop" | "length" | "abort"

export interface RequestOutput {
  readonly requestId: string
  /** Tokens sampled in this step (zero or one). */
  readonly tokenIds: ReadonlyArray<number>
  /** Text released in this step (may lag tokens while a stop string could still match). */
  readonly text: string
  readonly logprobs: ReadonlyArray<SampledToken> | null
  /** Prompt logprobs, delivered once, with the first output. */
  readonly promptLogprobs: ReturnType<typeof promptLogprobs> | null
  readonly finishReason: FinishReason | null
  readonly stopReason: string | number | null
  readonly promptTokens: number
  readonly completionTokens: number
  readonly cachedTokens: number
  /** An embedding request's result (unit length), with its only output (finish reason "stop"). */
  readonly embedding?: ReadonlyArray<number>
  /** The sequence's draft tokens verified and accepted so far, on the last output of a verification step. */
  readonly specDecode?: { readonly numDraftTokens: number; readonly numAcceptedTokens: number }
  /** A kvExport request's prompt KV, first token and sampler state, on its only output (finish reason "length"). */
  readonly kvTransfer?: KvTransfer
}

interface LiveRequest {
  readonly sched: SchedulerRequest
  readonly params: SamplingParams
  readonly sampler: RequestSampler
  readonly detokenizer: IncrementalDetokenizer | null
  readonly stop: StopChecker
  /** The sequence's grammar position (guided decoding); kept through preemption like its output tokens. */
  readonly guided: GuidedSequence | null
  /** Logits rows of prompt positions, gathered across prefill chunks when prompt logprobs are asked. */
  promptRows: Array<Float32Array> | null
  promptLogprobsSent: boolean
  /** An embedding request's pooling state. */
  readonly pooler: Pooler | null
  /** Whether drafts are proposed for it (the engine speculates and the request did not opt out). */
  readonly speculate: boolean
  /** This sequence's verified and accepted draft tokens (for its trace). */
  numDraftTokens: number
  numAcceptedTokens: number
  /** The transfer id to export the prompt's KV under after the first token (disaggregated prefill). */
  readonly kvExport: string | null
  /** The imported prompt KV, until it is written into the blocks admission gave the request. */
  kvImport: KvTransfer | null
}

export interface StepPlan {
  readonly batch: ForwardBatch
  readonly chunks: ReadonlyArray<ScheduledChunk>
  readonly preempted: number
}

/** Counters and gauges of the core, named after vLLM's metrics. */
export interface EngineCoreStats {
  numRequestsRunning: number
  numRequestsWaiting: number
  numRequestsPaused: number
  kvCacheUsage: number
  numFreeBlocks: number
  prefixCacheQueries: number
  prefixCacheHits: number
  numPreemptions: number
  promptTokensTotal: number
  generationTokensTotal: number
  iterationTokensTotal: number
  steps: number
  /** Speculative decoding counters; null when the engine does not speculate. */
  specDecode?: SpecDecodeStats | null
  /** KV transfer counters; null when the engine has no KV connector (colocated). */
  kvTransfer?: KvTransferStats | null
}

/**
 * The synchronous heart of the engine: owns the scheduler, the KV block manager and every live request's
 * sampler, detokenizer and stop checker. One owner (the engine actor) calls it; there are no locks.
 * `prepareStep` plans a step and its forward batch, `completeStep` turns the logits into outputs; between
 * the two the actor may run the model anywhere (this thread or a worker).
 */
export class EngineCore {
  readonly options: EngineCoreOptions
  readonly scheduler: Scheduler
  private readonly live = new Map<string, LiveRequest>()
  private arrivals = 0
  private promptTokensTotal = 0
  private generationTokensTotal = 0
  private iterationTokensTotal = 0
  private steps = 0
  private readonly specStats: SpecDecodeStats | null
  /** Counted here for exports and imports; the engine actor adds its fetch counters. */
  readonly kvStats: KvTransferStats | null

  constructor(options: EngineCoreOptions) {
    this.options = options
    // The block index is always on: with prefix caching disabled every request group gets its own salt, so
    // only the n > 1 siblings of one request share prompt blocks and nothing is shared across requests.
    this.scheduler = new Scheduler(options.scheduler, new KvCacheManager(options.numBlocks, options.blockSize))
    this.specStats = options.speculative == null ? null : emptySpecDecodeStats(options.speculative.numSpeculativeTokens)
    this.kvStats = options.kvBlocks == null ? null : emptyKvTransferStats()
  }

  get kv(): KvCacheManager {
    return this.scheduler.kv
  }

  add(spec: AddRequestSpec): void {
    if (this.live.has(spec.id)) throw new Error(`request id ${spec.id} is already live`)
    const p = spec.params
    const maxModelLen = this.options.scheduler.maxModelLen
    if (spec.promptTokenIds.length === 0) throw new RangeError("the prompt is empty")
    if (spec.promptTokenIds.length >= maxModelLen) {
      throw new RangeError(`the prompt has ${spec.promptTokenIds.length} tokens; max_model_len is ${maxModelLen}`)
    }
    if (spec.pooling !== undefined && this.options.hiddenSize === undefined) throw new RangeError("this engine does not embed (no hidden size)")
    if (p.guided !== null && p.guided.vocab.size !== this.options.vocabSize) {
      throw new RangeError(`the guided grammar was compiled for a vocabulary of ${p.guided.vocab.size} tokens; this model has ${this.options.vocabSize}`)
    }
    const sched = new SchedulerRequest({
      id: spec.id,
      promptTokenIds: spec.promptTokenIds,
      maxTokens: p.maxTokens,
      priority: spec.priority,
      arrival: this.arrivals++,
      cacheSalt: this.options.enablePrefixCaching ? spec.cacheSalt : `request:${spec.groupId ?? spec.id}`,
      needsPromptLogits: p.promptLogprobs !== null,
      pooling: spec.pooling ?? null
    })
    if (spec.kvExport !== undefined || spec.kvImport !== undefined) {
      const refusal = kvTransferRefusal(this.options.kvBlocks ?? null, spec, this.options.vocabSize)
      if (refusal !== null) throw new RangeError(refusal)
    }
    const tok = this.options.tokenizer
    const lr: LiveRequest = {
      sched,
      params: p,
      sampler: new RequestSampler(p, this.options.eosTokenIds, spec.promptTokenIds, spec.kvImport !== undefined ? Rng.restore(spec.kvImport.rngState) : spec.seqIndex ?? 0),
      detokenizer: tok === null ? null : new IncrementalDetokenizer(tok, spec.promptTokenIds, p.skipSpecialTokens),
      stop: new StopChecker(p, this.options.eosTokenIds, maxModelLen, spec.promptTokenIds.length),
      guided: p.guided === null ? null : new GuidedSequence(p.guided),
      promptRows: p.promptLogprobs !== null ? [] : null,
      promptLogprobsSent: false,
      pooler: spec.pooling === undefined ? null : new Pooler(spec.pooling, this.options.hiddenSize!),
      speculate: this.options.speculative != null && spec.speculate !== false && spec.pooling === undefined,
      numDraftTokens: 0,
      numAcceptedTokens: 0,
      kvExport: spec.kvExport ?? null,
      kvImport: spec.kvImport ?? null
    }
    if (lr.kvImport !== null) this.replayFirstToken(lr, lr.kvImport)
    this.live.set(spec.id, lr)
    this.scheduler.add(sched)
  }

  /**
   * The decode side takes the prefill side's first token as if it had sampled it: into the output, the
   * detokenizer, the stop checker and the grammar (their state is a function of the tokens, so it ends up
   * where the prefill side's was). Its text was already sent by the prefill side; what the stop checker
   * holds back of it is released by later tokens here, exactly as colocated.
   */
  private replayFirstToken(lr: LiveRequest, t: KvTransfer): void {
    const r = lr.sched
    if (lr.guided !== null && !lr.sampler.isEndToken(t.firstTokenId) && !lr.guided.accept(t.firstTokenId)) {
      throw new RangeError(`KV transfer ${t.transferId}: its first token does not fit this request's grammar`)
    }
    r.outputTokenIds.push(t.firstTokenId)
    const text = lr.detokenizer === null ? "" : lr.detokenizer.push(t.firstTokenId)
    const verdict = lr.stop.onToken(t.firstTokenId, text, 1)
    if (verdict.finishReason !== null || lr.guided?.isComplete === true) {
      throw new RangeError(`KV transfer ${t.transferId}: its first token already ends this request (nothing to decode)`)
    }
    r.kvImport = { numTokens: t.promptTokenIds.length, fromBlock: null }
    // cached_tokens is the prefill side's: those are the prompt tokens nobody computed for this request
    // (set now, admission keeps it; this engine's own hits only spare it a copy).
    r.numCachedPromptTokens = t.cachedTokens
  }

  /** Ends a request now: it leaves the scheduler and its blocks return to the pool. Idempotent. */
  abort(id: string): boolean {
    const r = this.live.get(id)
    if (r === undefined) return false
    this.scheduler.remove(r.sched)
    this.live.delete(id)
    return true
  }

  /** Its reader is not keeping up: keep its blocks, stop scheduling it. */
  pause(id: string, now: number): void {
    const r = this.live.get(id)
    if (r !== undefined && !r.sched.paused) {
      r.sched.paused = true
      r.sched.pausedSince = now
    }
  }

  unpause(id: string): void {
    const r = this.live.get(id)
    if (r !== undefined) this.scheduler.unpause(r.sched)
  }

  has(id: string): boolean {
    return this.live.has(id)
  }

  get numLive(): number {
    return this.live.size
  }

  /** Earliest time a paused request reaches the stall limit (the loop wakes then to preempt it). */
  nextStallDeadline(): number | null {
    let t: number | null = null
    for (const r of this.scheduler.running) {
      if (r.paused) {
        const d = r.pausedSince + this.options.scheduler.stallLimitMs
        if (t === null || d < t) t = d
      }
    }
    return t
  }

  prepareStep(now: number): StepPlan | null {
    const out = this.scheduler.schedule(now)
    if (out.chunks.length === 0) return null
    for (const ch of out.chunks) if (ch.request.kvImport !== null) this.writeImported(ch.request)
    const seqChunks: Array<SequenceChunk> = out.chunks.map((ch) => {
      const r = ch.request
      const end = ch.startPosition + ch.numNewTokens
      const tokenIds = r.tokens(ch.startPosition, end), blockTable = this.kv.blockTable(r)
      const pooler = this.live.get(r.id)?.pooler
      if (pooler != null) return { tokenIds, startPosition: ch.startPosition, blockTable, logits: "none", hidden: Pooler.rowsOf(pooler.type, ch.numNewTokens, end, r.promptTokenIds.length) }
      // Verifying drafts: the chunk is the last token and the drafts, and every row needs its logits.
      if (ch.numSpecTokens > 0) return { tokenIds: [...r.tokens(ch.startPosition, r.numTokens), ...r.specTokenIds.slice(0, ch.numSpecTokens)], startPosition: ch.startPosition, blockTable, logits: "all" }
      const inPrompt = ch.startPosition < r.promptTokenIds.length
      const logits = r.needsPromptLogits && inPrompt ? "all" : end === r.numTokens ? "last" : "none"
      return { tokenIds, startPosition: ch.startPosition, blockTable, logits }
    })
    return { batch: buildForwardBatch(seqChunks, this.options.blockSize), chunks: out.chunks, preempted: out.preempted.length }
  }

  /** Just admitted with imported KV: its blocks get the transfer's bytes before the step's forward pass reads them. */
  private writeImported(r: SchedulerRequest): void {
    const lr = this.live.get(r.id)!
    const from = r.kvImport!.fromBlock!, t = lr.kvImport!
    importPromptBlocks(this.options.kvBlocks!, r.blocks, from, t)
    const st = this.kvStats!
    st.imports++
    st.reusedBlocks += from
    for (let i = from; i < t.blocks.length; i++) st.importedBytes += t.blocks[i].bytes.length
    r.kvImport = null
    lr.kvImport = null
  }

  completeStep(plan: StepPlan, logits: Float32Array): Array<RequestOutput> {
    const V = this.options.vocabSize
    const outputs: Array<RequestOutput> = []
    let row = 0
    // Hidden-state rows (embeddings) follow the logits rows in the step's output.
    const hiddenBase = plan.batch.logitsIndices.length * V
    let hiddenRow = 0
    this.steps++
    for (const ch of plan.chunks) {
      const r = ch.request
      const lr = this.live.get(r.id)
      const end = ch.startPosition + ch.numNewTokens
      this.iterationTokensTotal += ch.numNewTokens
      if (r.pooling !== null) {
        // The rows prepareStep asked for (from the request itself: it may have been aborted since).
        const which = Pooler.rowsOf(r.pooling, ch.numNewTokens, end, r.promptTokenIds.length)
        const rows = which === "all" ? ch.numNewTokens : which === "last" ? 1 : 0
        const first = hiddenRow
        hiddenRow += rows
        if (lr === undefined) continue // aborted between prepare and complete
        r.numComputedTokens = end
        // A chunk from position 0 is a (re)start: after a preemption the prompt is computed again.
        if (ch.startPosition === 0) lr.pooler!.reset()
        lr.pooler!.add(logits, hiddenBase + first * this.options.hiddenSize!, rows)
        if (end === r.numTokens) outputs.push(this.finishEmbedding(lr))
        continue
      }
      if (ch.numSpecTokens > 0) {
        const firstRow = row
        row += ch.numNewTokens
        if (lr !== undefined) outputs.push(...this.verifyDrafts(lr, ch, logits, firstRow))
        continue
      }
      const inPrompt = ch.startPosition < r.promptTokenIds.length
      const rows = r.needsPromptLogits && inPrompt ? ch.numNewTokens : end === r.numTokens ? 1 : 0
      const firstRow = row
      row += rows
      if (lr === undefined) continue // aborted between prepare and complete
      r.numComputedTokens = end
      if (lr.promptRows !== null && inPrompt) {
        for (let i = 0; i < rows; i++) lr.promptRows.push(logits.slice((firstRow + i) * V, (firstRow + i + 1) * V))
      }
      if (end !== r.numTokens) continue // a prefill chunk that has not caught up yet
      if (r.outputTokenIds.length === 0 && r.numPreemptions === 0) this.promptTokensTotal += r.promptTokenIds.length
      outputs.push(this.sampleNext(lr, logits, firstRow + rows - 1))
    }
    this.proposeDrafts()
    return outputs
  }

  /**
   * Samples row by row from the target's logits at the last token and at each draft, exactly as plain
   * decoding would sample those positions, and keeps going while the sampled token equals the draft.
   * The first token that differs (or the token after the last draft) ends the step. For a deterministic
   * draft this is rejection sampling: the draft is accepted with probability p(draft), and on rejection
   * the token is distributed as p without the draft, renormalized. Using the same one draw per token as
   * plain decoding also makes a seeded request's output identical with and without speculation. Each
   * accepted token goes through the stop checks like any other; the positions past the last accepted
   * draft are rolled back (their KV slots and any blocks holding only them are released).
   */
  private verifyDrafts(lr: LiveRequest, ch: ScheduledChunk, logits: Float32Array, firstRow: number): Array<RequestOutput> {
    const r = lr.sched
    const drafts = r.specTokenIds.slice(0, ch.numSpecTokens)
    r.specTokenIds = []
    const outputs: Array<RequestOutput> = []
    let accepted = 0
    for (let i = 0; i <= drafts.length; i++) {
      const o = this.sampleNext(lr, logits, firstRow + i)
      outputs.push(o)
      if (o.finishReason !== null || i === drafts.length || o.tokenIds[0] !== drafts[i]) {
        if (i < drafts.length && o.tokenIds[0] === drafts[i]) accepted++
        break
      }
      accepted++
    }
    const st = this.specStats!
    st.numDrafts++
    st.numDraftTokens += drafts.length
    st.numAcceptedTokens += accepted
    for (let i = 0; i < accepted; i++) st.numAcceptedTokensPerPos[i]++
    lr.numDraftTokens += drafts.length
    lr.numAcceptedTokens += accepted
    outputs[outputs.length - 1] = { ...outputs[outputs.length - 1], specDecode: { numDraftTokens: lr.numDraftTokens, numAcceptedTokens: lr.numAcceptedTokens } }
    if (this.live.has(r.id)) {
      // In the KV cache: everything before the token just sampled (the accepted drafts included).
      r.numComputedTokens = r.numTokens - 1
      this.kv.trimTo(r, r.numComputedTokens)
    }
    return outputs
  }

  /**
   * While `plan`'s forward pass runs on another thread: the draft model's drafts for the step after,
   * for each sequence verifying drafts now, assuming all are accepted (DraftModelProposer.proposeAhead).
   * Touches only the draft model's own state; proposeDrafts takes the drafts where the assumption held.
   */
  proposeAhead(plan: StepPlan): void {
    const cfg = this.options.speculative, draft = this.options.draftProposer
    if (cfg == null || draft == null) return
    const wanted: Array<{ req: SchedulerRequest; drafts: ReadonlyArray<number>; maxDraft: number }> = []
    for (const ch of plan.chunks) {
      const r = ch.request
      if (ch.numSpecTokens === 0 || !this.live.has(r.id)) continue
      // As proposeDrafts will size them, once the drafts and the token after them are in.
      const room = this.draftRoom(r, ch.numSpecTokens + 1)
      wanted.push({ req: r, drafts: r.specTokenIds.slice(0, ch.numSpecTokens), maxDraft: Math.min(room, cfg.numSpeculativeTokens) })
    }
    draft.proposeAhead(wanted)
  }

  /**
   * How many drafts `r` has room for once it has gained `gained` more tokens: the token after the last
   * draft is always sampled too, so one is left for it within max_tokens and max_model_len.
   */
  private draftRoom(r: SchedulerRequest, gained: number): number {
    return Math.min(r.maxTokens - r.outputTokenIds.length, this.options.scheduler.maxModelLen - r.numTokens) - gained - 1
  }

  /** Whether proposeAhead has work: a draft model that drafts ahead. */
  get draftsAhead(): boolean {
    return this.options.speculative != null && this.options.draftProposer?.ahead === true
  }

  /** After a step: drafts for every decoding sequence, unless the batch is past disable_by_batch_size. */
  private proposeDrafts(): void {
    const cfg = this.options.speculative
    if (cfg == null) return
    // The draft model's cache forgets finished and aborted sequences.
    this.options.draftProposer?.retain(new Set([...this.live.values()].map((l) => l.sched)))
    const running = this.scheduler.running
    if (cfg.disableByBatchSize !== null && running.length > cfg.disableByBatchSize) {
      for (const r of running) r.specTokenIds = []
      return
    }
    const wanted: Array<{ req: SchedulerRequest; maxDraft: number }> = []
    for (const r of running) {
      r.specTokenIds = []
      if (r.numTokens - r.numComputedTokens !== 1 || r.outputTokenIds.length === 0 || !this.live.get(r.id)?.speculate) continue
      const room = this.draftRoom(r, 0)
      if (cfg.method === "ngram") r.specTokenIds = proposeNgram((i) => r.tokenAt(i), r.numTokens, cfg, room)
      else wanted.push({ req: r, maxDraft: Math.min(room, cfg.numSpeculativeTokens) })
    }
    const draft = this.options.draftProposer
    if (draft != null) for (const [r, tokens] of draft.propose(wanted)) r.specTokenIds = tokens
  }

  private sampleNext(lr: LiveRequest, logits: Float32Array, row: number): RequestOutput {
    const r = lr.sched
    const sampled = lr.sampler.sample(logits, row, this.options.vocabSize, r.outputTokenIds, lr.guided)
    if (sampled.tokenId < 0) return this.finishWithoutToken(lr)
    // End tokens are no grammar text: the mask allowed them only where the grammar may end. A text token
    // the grammar refuses cannot come from the mask; if it ever did, the sequence ends rather than go astray.
    if (lr.guided !== null && !lr.sampler.isEndToken(sampled.tokenId) && !lr.guided.accept(sampled.tokenId)) return this.finishWithoutToken(lr)
    r.outputTokenIds.push(sampled.tokenId)
    this.generationTokensTotal++
    const newText = lr.detokenizer === null ? "" : lr.detokenizer.push(sampled.tokenId)
    let verdict = lr.stop.onToken(sampled.tokenId, newText, r.outputTokenIds.length)
    // A grammar that nothing more can follow ends the sequence now (no step spent sampling EOS).
    if (verdict.finishReason === null && lr.guided !== null && lr.guided.isComplete) verdict = lr.stop.finishComplete(verdict.emit)
    let text = verdict.emit
    let promptLp: RequestOutput["promptLogprobs"] = null
    if (lr.promptRows !== null && !lr.promptLogprobsSent) {
      const rows = lr.promptRows
      const flat = new Float32Array(rows.length * this.options.vocabSize)
      rows.forEach((x, i) => flat.set(x, i * this.options.vocabSize))
      promptLp = promptLogprobs(flat, rows.length, this.options.vocabSize, r.promptTokenIds, lr.params.promptLogprobs ?? 0)
      lr.promptLogprobsSent = true
      lr.promptRows = null
    }
    if (verdict.finishReason !== null) {
      if (lr.detokenizer !== null && verdict.finishReason === "length") text += lr.stop.flush()
      this.scheduler.remove(r)
      this.live.delete(r.id)
    }
    const kvTransfer = lr.kvExport !== null && verdict.finishReason === null ? this.exportKv(lr, sampled.tokenId) : undefined
    return {
      requestId: r.id,
      tokenIds: [sampled.tokenId],
      text,
      logprobs: lr.params.logprobs === null ? null : [sampled],
      promptLogprobs: promptLp,
      finishReason: verdict.finishReason,
      stopReason: verdict.stopReason,
      promptTokens: r.promptTokenIds.length,
      completionTokens: r.outputTokenIds.length,
      cachedTokens: Math.max(0, r.numCachedPromptTokens),
      ...(kvTransfer !== undefined && { finishReason: "length" as const, kvTransfer })
    }
  }

  /**
   * Disaggregated prefill, first token sampled: copies the prompt's blocks out with the sampler's state,
   * then ends the request here, freeing its blocks (full prompt blocks stay in the prefix cache). The
   * text the stop checker holds back is not flushed: the decode side releases it.
   */
  private exportKv(lr: LiveRequest, firstTokenId: number): KvTransfer {
    const r = lr.sched, io = this.options.kvBlocks!
    const transfer: KvTransfer = {
      transferId: lr.kvExport!,
      promptTokenIds: r.promptTokenIds,
      firstTokenId,
      rngState: lr.sampler.rngState(),
      cachedTokens: Math.max(0, r.numCachedPromptTokens),
      geometry: io.geometry,
      blocks: exportPromptBlocks(io, r.blocks, r.promptTokenIds.length)
    }
    this.scheduler.remove(r)
    this.live.delete(r.id)
    this.kvStats!.exports++
    for (const b of transfer.blocks) this.kvStats!.exportedBytes += b.bytes.length
    return transfer
  }

  /** An embedding request's prompt is all in: its pooled vector is its one output, and it leaves (blocks freed). */
  private finishEmbedding(lr: LiveRequest): RequestOutput {
    const r = lr.sched
    this.promptTokensTotal += r.promptTokenIds.length
    this.scheduler.remove(r)
    this.live.delete(r.id)
    return {
      requestId: r.id,
      tokenIds: [],
      text: "",
      logprobs: null,
      promptLogprobs: null,
      finishReason: "stop",
      stopReason: null,
      promptTokens: r.promptTokenIds.length,
      completionTokens: 0,
      cachedTokens: 0,
      embedding: lr.pooler!.result()
    }
  }

  /**
   * Guided decoding found no token the vocabulary could continue the grammar with (a vocabulary that
   * cannot spell some byte the grammar needs): the sequence ends without a token, as vLLM ends sequences
   * the engine gives up on, with finish reason "abort".
   */
  private finishWithoutToken(lr: LiveRequest): RequestOutput {
    const r = lr.sched
    const text = lr.stop.flush()
    this.scheduler.remove(r)
    this.live.delete(r.id)
    return {
      requestId: r.id,
      tokenIds: [],
      text,
      logprobs: lr.params.logprobs === null ? null : [],
      promptLogprobs: null,
      finishReason: "abort",
      stopReason: null,
      promptTokens: r.promptTokenIds.length,
      completionTokens: r.outputTokenIds.length,
      cachedTokens: Math.max(0, r.numCachedPromptTokens)
    }
  }

  /** One whole step with a synchronous executor. */
  step(executor: ModelExecutor, now: number): Array<RequestOutput> {
    const plan = this.prepareStep(now)
    if (plan === null) return []
    return this.completeStep(plan, executor.execute(plan.batch))
  }

  checkInvariants(): void {
    this.kv.checkInvariants([...this.live.values()].map((l) => l.sched))
  }

  stats(): EngineCoreStats {
    const s = this.scheduler
    return {
      numRequestsRunning: s.running.filter((r) => !r.paused).length,
      numRequestsWaiting: s.waiting.length,
      numRequestsPaused: s.running.filter((r) => r.paused).length + s.parked.size,
      kvCacheUsage: this.kv.pool.usage,
      numFreeBlocks: this.kv.pool.numFree,
      prefixCacheQueries: this.kv.prefixCacheQueries,
      prefixCacheHits: this.kv.prefixCacheHits,
      numPreemptions: s.numPreemptions,
      promptTokensTotal: this.promptTokensTotal,
      generationTokensTotal: this.generationTokensTotal,
      iterationTokensTotal: this.iterationTokensTotal,
      steps: this.steps,
      specDecode: this.specStats === null ? null : { ...this.specStats, numAcceptedTokensPerPos: [...this.specStats.numAcceptedTokensPerPos] },
      kvTransfer: this.kvStats === null ? null : { ...this.kvStats }
    }
  }
}
