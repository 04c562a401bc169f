import type { ModelConfig } from "./config.ts"
import { referenceKernels, type AttentionBatch, type Kernels } from "./kernels.ts"
import type { PagedKvCache } from "./kv-cache.ts"
import { readRow } from "./matrix.ts"
import { RopeTable } from "./rope.ts"
import type { ModelWeights } from "./weights.ts"

/**
 * One engine step, flattened: tokens of many sequences side by side, some prefilling a chunk of their
 * prompt, some decoding one token. Attention reaches K/V only through the block tables.
 */
export interface ForwardBatch {
  /** [T] token ids. */
  readonly tokenIds: Int32Array
  /** [T] position of each token in its sequence. */
  readonly positions: Int32Array
  /** [T] index into `blockTables` of each token's sequence. */
  readonly seqIndex: Int32Array
  /** [T] KV-cache slot each token's K/V is written to (block * blockSize + offset). */
  readonly slotMapping: Int32Array
  /** One block table per sequence in the step. */
  readonly blockTables: ReadonlyArray<Int32Array>
  /** Rows of the flat batch whose logits are wanted (last token of a sequence, or all prompt positions). */
  readonly logitsIndices: Int32Array
  /**
   * Rows whose final hidden states (after the final norm) are wanted, for embeddings. They come back
   * after the logits in the same array, so every executor (in process, worker thread) moves one buffer.
   */
  readonly hiddenIndices?: Int32Array
}

/**
 * Scratch buffers reused across steps, allocated where the kernels want them; grown when a step has more
 * tokens (or more logits rows) than any before.
 */
class Workspace {
  capacity = 0
  logitsCapacity = 0
  picked!: Float32Array
  logits!: Float32Array
  hidden!: Float32Array
  normed!: Float32Array
  q!: Float32Array
  k!: Float32Array
  v!: Float32Array
  attn!: Float32Array
  proj!: Float32Array
  gate!: Float32Array
  up!: Float32Array

  ensure(tokens: number, logitsRows: number, c: ModelConfig, alloc: (n: number) => Float32Array): void {
    if (tokens > this.capacity) {
      const n = Math.max(tokens, this.capacity * 2, 16)
      const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim
      this.hidden = alloc(n * c.hiddenSize)
      this.normed = alloc(n * c.hiddenSize)
      this.q = alloc(n * qDim)
      this.k = alloc(n * kvDim)
      this.v = alloc(n * kvDim)
      this.attn = alloc(n * qDim)
      this.proj = alloc(n * c.hiddenSize)
      this.gate = alloc(n * c.intermediateSize)
      this.up = alloc(n * c.intermediateSize)
      this.capacity = n
    }
    if (logitsRows > this.logitsCapacity) {
      const n = Math.max(logitsRows, this.logitsCapacity * 2, 16)
      this.picked = alloc(n * c.hiddenSize)
      this.logits = alloc(n * c.vocabSize)
      this.logitsCapacity = n
    }
  }
}

/**
 * The rows whose final hidden states the step reads (logits and hidden rows), ascending; null when that
 * is every row (nothing to leave out of the last layer).
 */
const keptRows = (batch: ForwardBatch, T: number): Int32Array | null => {
  const wanted = new Uint8Array(T)
  for (const r of batch.logitsIndices) wanted[r] = 1
  if (batch.hiddenIndices !== undefined) for (const r of batch.hiddenIndices) wanted[r] = 1
  const rows: Array<number> = []
  for (let r = 0; r < T; r++) if (wanted[r] === 1) rows.push(r)
  return rows.length === T ? null : Int32Array.from(rows)
}

/** Row indices of the full step as indices into the kept rows. */
const renumbered = (indices: Int32Array, kept: Int32Array): Int32Array => Int32Array.from(indices, (r) => kept.indexOf(r))

/** The Llama-family decoder (Llama 2/3, Mistral, Qwen2): one forward pass per engine step. */
export class CausalLM {
  readonly config: ModelConfig
  readonly weights: ModelWeights
  readonly kernels: Kernels
  private readonly rope: RopeTable
  private readonly ws = new Workspace()

  constructor(config: ModelConfig, weights: ModelWeights, kernels: Kernels = referenceKernels) {
    this.config = config
    this.weights = weights
    this.kernels = kernels
    this.rope = new RopeTable(config)
  }

  /**
   * Runs the step, writes its K/V into `cache`, returns logits [logitsIndices.length, vocabSize] followed
   * by the final hidden states [hiddenIndices.length, hiddenSize] when any are asked for.
   */
  forward(batch: ForwardBatch, cache: PagedKvCache): Float32Array {
    const out = this.forwardInWorkspace(batch, cache)
    // Only a logits-only step comes back in the workspace (hidden states come in a fresh array).
    return out.buffer === this.ws.logits?.buffer ? out.slice() : out
  }

  /**
   * forward, but logits-only results come back as a view of the model's workspace (valid until the next
   * step): a step's logits can be vocabulary x rows x 4 bytes (3 MB for 16 SmolLM2 rows), and a fresh
   * array per step kept the event loop's garbage collector busy. Hidden states come back in a fresh array.
   */
  forwardInWorkspace(batch: ForwardBatch, cache: PagedKvCache): Float32Array {
    const c = this.config, K = this.kernels, w = this.weights, ws = this.ws
    const T = batch.tokenIds.length
    const H = c.hiddenSize
    const E = batch.hiddenIndices?.length ?? 0
    ws.ensure(T, batch.logitsIndices.length, c, (n) => K.alloc(n))
    let maxPos = 0
    for (let t = 0; t < T; t++) if (batch.positions[t] > maxPos) maxPos = batch.positions[t]
    this.rope.ensure(maxPos + 1)

    for (let t = 0; t < T; t++) {
      const id = batch.tokenIds[t]
      if (id < 0 || id >= c.vocabSize) throw new RangeError(`token id ${id} outside the vocabulary [0, ${c.vocabSize})`)
      readRow(w.embed, id, H, ws.hidden, t * H)
    }
    const attention: AttentionBatch = {
      tokens: T,
      positions: batch.positions,
      seqIndex: batch.seqIndex,
      blockTables: batch.blockTables,
      blockSize: cache.blockSize,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      scale: 1 / Math.sqrt(c.headDim),
      slidingWindow: c.slidingWindow
    }
    // The last layer's output is read only at the rows whose logits or hidden states are wanted (a
    // prefill chunk's last token): its K/V are computed for every row (later tokens attend to them), the
    // rest of the layer only for those rows. Each row's values are what the full layer gives it: no
    // kernel's result for a row depends on the other rows of the call.
    const kept = keptRows(batch, T)
    for (let l = 0; l < c.numLayers; l++) {
      if (l === c.numLayers - 1 && kept !== null) this.lastLayerRows(l, T, kept, batch, cache, attention)
      else this.layer(l, T, batch, cache, attention)
    }
    const out = kept === null ? batch : { ...batch, logitsIndices: renumbered(batch.logitsIndices, kept), hiddenIndices: batch.hiddenIndices && renumbered(batch.hiddenIndices, kept) }

    // Only the rows that need logits go through the final norm and the (large) lm_head.
    const L = out.logitsIndices.length
    if (E > 0) return this.withHidden(out, L, E)
    if (L === 0) return new Float32Array(0)
    return this.logitsOf(out.logitsIndices, L).subarray(0, L * c.vocabSize)
  }

  /** Layer l over all T rows of the step: the hidden states in the workspace go in and come out. */
  private layer(l: number, T: number, batch: ForwardBatch, cache: PagedKvCache, attention: AttentionBatch): void {
    const c = this.config, K = this.kernels, ws = this.ws, lw = this.weights.layers[l]
    const H = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim
    K.rmsNorm(ws.normed, ws.hidden, lw.inputNorm, T, H, c.rmsNormEps)
    K.matmuls(ws.normed, T, H, [
      { out: ws.q, w: lw.q, outDim: qDim, bias: lw.qBias },
      { out: ws.k, w: lw.k, outDim: kvDim, bias: lw.kBias },
      { out: ws.v, w: lw.v, outDim: kvDim, bias: lw.vBias }
    ])
    K.rope(ws.q, T, c.numHeads, c.headDim, batch.positions, this.rope.cos, this.rope.sin)
    K.rope(ws.k, T, c.numKvHeads, c.headDim, batch.positions, this.rope.cos, this.rope.sin)
    cache.write(l, ws.k, ws.v, batch.slotMapping, T)
    K.pagedAttention(ws.attn, ws.q, cache.k[l], cache.v[l], attention)
    this.afterAttention(l, T)
  }

  /**
   * Layer l computing K/V for all T rows but everything else only for the `kept` rows (ascending), which
   * end up first in the workspace, in that order.
   */
  private lastLayerRows(l: number, T: number, kept: Int32Array, batch: ForwardBatch, cache: PagedKvCache, attention: AttentionBatch): void {
    const c = this.config, K = this.kernels, ws = this.ws, lw = this.weights.layers[l]
    const H = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim, n = kept.length
    K.rmsNorm(ws.normed, ws.hidden, lw.inputNorm, T, H, c.rmsNormEps)
    K.matmuls(ws.normed, T, H, [
      { out: ws.k, w: lw.k, outDim: kvDim, bias: lw.kBias },
      { out: ws.v, w: lw.v, outDim: kvDim, bias: lw.vBias }
    ])
    K.rope(ws.k, T, c.numKvHeads, c.headDim, batch.positions, this.rope.cos, this.rope.sin)
    cache.write(l, ws.k, ws.v, batch.slotMapping, T)
    // Kept rows moved to the front (ascending, so no row is overwritten before it moves).
    for (let i = 0; i < n; i++) {
      const r = kept[i]
      if (r === i) continue
      ws.hidden.copyWithin(i * H, r * H, (r + 1) * H)
      ws.normed.copyWithin(i * H, r * H, (r + 1) * H)
    }
    const positions = Int32Array.from(kept, (r) => batch.positions[r])
    K.matmul(ws.q, ws.normed, lw.q, n, H, qDim, lw.qBias)
    K.rope(ws.q, n, c.numHeads, c.headDim, positions, this.rope.cos, this.rope.sin)
    K.pagedAttention(ws.attn, ws.q, cache.k[l], cache.v[l], { ...attention, tokens: n, positions, seqIndex: Int32Array.from(kept, (r) => batch.seqIndex[r]) })
    this.afterAttention(l, n)
  }

  /** The rest of layer l over the first `rows` rows: output projection, residual, MLP, residual. */
  private afterAttention(l: number, rows: number): void {
    const c = this.config, K = this.kernels, ws = this.ws, lw = this.weights.layers[l]
    const H = c.hiddenSize, I = c.intermediateSize, qDim = c.numHeads * c.headDim
    K.matmul(ws.proj, ws.attn, lw.o, rows, qDim, H, lw.oBias)
    K.addInPlace(ws.hidden, ws.proj, rows * H)
    K.rmsNorm(ws.normed, ws.hidden, lw.postNorm, rows, H, c.rmsNormEps)
    K.matmuls(ws.normed, rows, H, [
      { out: ws.gate, w: lw.gate, outDim: I, bias: lw.gateBias },
      { out: ws.up, w: lw.up, outDim: I, bias: lw.upBias }
    ])
    K.siluMul(ws.gate, ws.up, rows * I)
    K.matmul(ws.proj, ws.gate, lw.down, rows, I, H, lw.downBias)
    K.addInPlace(ws.hidden, ws.proj, rows * H)
  }

  /** The logits of `L` rows, in the workspace (the caller copies what it keeps). */
  private logitsOf(indices: Int32Array, L: number): Float32Array {
    const c = this.config, K = this.kernels, w = this.weights, ws = this.ws
    const H = c.hiddenSize
    const picked = ws.picked
    for (let i = 0; i < L; i++) {
      const r = indices[i]
      picked.set(ws.hidden.subarray(r * H, (r + 1) * H), i * H)
    }
    K.rmsNorm(picked, picked, w.norm, L, H, c.rmsNormEps)
    K.matmul(ws.logits, picked, w.lmHead, L, H, c.vocabSize, null)
    return ws.logits
  }

  /**
   * Logits, then the final-normed hidden states of `hiddenIndices`, in one fresh array (the caller
   * keeps it, or transfers it between threads). The norm runs row by row, so a row's values do not
   * depend on the other rows of the step.
   */
  private withHidden(batch: ForwardBatch, L: number, E: number): Float32Array {
    const c = this.config, K = this.kernels, ws = this.ws
    const H = c.hiddenSize, V = c.vocabSize
    const out = new Float32Array(L * V + E * H)
    if (L > 0) out.set(this.logitsOf(batch.logitsIndices, L).subarray(0, L * V))
    // Gathered into the layers' norm scratch (T rows, free by now): E <= T, and the logits buffers
    // stay sized for the logits rows alone (a vocabulary-wide row per pooled token would be huge).
    const gathered = ws.normed
    for (let i = 0; i < E; i++) {
      const r = batch.hiddenIndices![i]
      gathered.set(ws.hidden.subarray(r * H, (r + 1) * H), i * H)
    }
    K.rmsNorm(gathered, gathered, this.weights.norm, E, H, c.rmsNormEps)
    out.set(gathered.subarray(0, E * H), L * V)
    return out
  }
}
