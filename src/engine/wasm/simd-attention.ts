/**
 * Paged attention on the WASM kernels (tools/wasm-attention.ts): dot products and the weighted sum of V
 * in SIMD, the softmax between them in float64 (as the reference kernels compute it). A step is described once
 * (`AttentionJob`: pointers into the shared memory, and for every token where its keys' slots start and
 * how many it attends to); any thread attached to the memory can then compute any range of its (token, KV head) units,
 * and each (token, head) is computed the same way whichever thread does it.
 */
import type { AttentionBatch, KvStorage } from "../kernels.ts"
import { ArenaScratch, type WasmArena } from "./arena.ts"

/** Everything a thread needs to compute heads of one attention call, as plain numbers. */
export interface AttentionJob {
  readonly out: number
  readonly q: number
  readonly k: number
  readonly v: number
  /** Int32 [tokens]: byte address of each token's first key slot index. */
  readonly tokenSlots: number
  /** Int32 [tokens]: how many keys each token attends to. */
  readonly tokenKeys: number
  readonly tokens: number
  readonly numHeads: number
  readonly numKvHeads: number
  readonly headDim: number
  readonly scale: number
  readonly f16: boolean
}

/** Query rows the kernels take at once (tools/wasm-attention.ts generates attn_scores1..4 and attn_values1..4). */
export const MAX_ATTENTION_ROWS = 4

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1))

/**
 * The softmax kernel's float64 constants, in the order it reads them from memory (tools/wasm-attention.ts):
 * the clamp, log2(e), ln 2 split high/low (fdlibm's Cody-Waite pair), 2^52 + 1023 (builds 2^k), then the
 * Taylor coefficients 1/d! for d = 0..12.
 */
export const EXP_CONSTANTS: ReadonlyArray<number> = [
  -708, 1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10, 2 ** 52 + 1023,
  ...Array.from({ length: 13 }, (_, d) => 1 / factorial(d))
]

/** A (token, KV head) unit's cost beyond its keys, in keys: the calls and the passes over its heads' outputs. */
const UNIT_OVERHEAD_KEYS = 16

type ScoresFn = (scores: number, stride: number, qs: number, pool: number, slots: number, n: number, ko: number, kvDim: number, headDim: number, scale: number) => void
type ValuesFn = (outs: number, accumulate: number, probs: number, stride: number, pool: number, slots: number, n: number, ko: number, kvDim: number, headDim: number) => void
type SoftmaxFn = (probs: number, exps: number, n: number, constants: number) => void

export class SimdAttention {
  /** By KV type, the kernels for 1..MAX_ATTENTION_ROWS query rows (index rows - 1). */
  private readonly scores: Record<"f32" | "f16", ReadonlyArray<ScoresFn>>
  private readonly values: Record<"f32" | "f16", ReadonlyArray<ValuesFn>>
  private readonly probs: ArenaScratch<Float32Array>
  private readonly slots: ArenaScratch<Int32Array>
  /** The softmax's float64 exponentials (2 f32 per value). */
  private readonly exps: ArenaScratch<Float32Array>
  private readonly softmaxKernel: SoftmaxFn
  /** EXP_CONSTANTS, each as an f64x2 pair, in the arena. */
  private readonly constants: number
  /** A tile's row addresses for the kernels: q of each row, then out of each row, then one more out. */
  private readonly rowAddresses: Int32Array

  private readonly arena: WasmArena

  constructor(arena: WasmArena, instance: WebAssembly.Instance) {
    this.arena = arena
    const e = instance.exports
    const byRows = <F>(name: string, kv: string) => Array.from({ length: MAX_ATTENTION_ROWS }, (_, i) => e[`attn_${name}${i + 1}_${kv}`] as F)
    this.scores = { f32: byRows<ScoresFn>("scores", "f32"), f16: byRows<ScoresFn>("scores", "f16") }
    this.values = { f32: byRows<ValuesFn>("values", "f32"), f16: byRows<ValuesFn>("values", "f16") }
    this.probs = new ArenaScratch(arena, (n) => arena.allocF32(n))
    this.slots = new ArenaScratch(arena, (n) => arena.allocI32(n))
    this.exps = new ArenaScratch(arena, (n) => arena.allocF32(n))
    this.softmaxKernel = e.attn_softmax as SoftmaxFn
    const table = arena.allocF32(4 * EXP_CONSTANTS.length)
    new Float64Array(table.buffer, table.byteOffset, 2 * EXP_CONSTANTS.length).set(EXP_CONSTANTS.flatMap((c) => [c, c]))
    this.constants = table.byteOffset
    this.rowAddresses = arena.allocI32(2 * MAX_ATTENTION_ROWS + 1)
  }

  /** The job for one call, or null when the WASM path cannot take it (tensors outside the arena, odd head size). */
  prepare(out: Float32Array, q: Float32Array, kCache: KvStorage, vCache: KvStorage, b: AttentionBatch): AttentionJob | null {
    const a = this.arena
    if (b.headDim % 4 !== 0 || !a.owns(out) || !a.owns(q) || !a.owns(kCache) || !a.owns(vCache)) return null
    // Each sequence's slot list (positions 0..max) once, then each token points into its sequence's list.
    const seqLen = new Int32Array(b.blockTables.length)
    for (let t = 0; t < b.tokens; t++) seqLen[b.seqIndex[t]] = Math.max(seqLen[b.seqIndex[t]], b.positions[t] + 1)
    const seqStart = new Int32Array(b.blockTables.length)
    let total = 0
    for (let s = 0; s < seqLen.length; s++) {
      seqStart[s] = total
      total += seqLen[s]
    }
    const ints = this.slots.get(total + 2 * b.tokens)
    for (let s = 0; s < seqLen.length; s++) {
      const table = b.blockTables[s], base = seqStart[s]
      for (let j = 0; j < seqLen[s]; j++) ints[base + j] = table[Math.floor(j / b.blockSize)] * b.blockSize + (j % b.blockSize)
    }
    const tokenSlots = total, tokenKeys = total + b.tokens
    for (let t = 0; t < b.tokens; t++) {
      const pos = b.positions[t]
      const first = b.slidingWindow === null ? 0 : Math.max(0, pos - b.slidingWindow + 1)
      ints[tokenSlots + t] = ints.byteOffset + (seqStart[b.seqIndex[t]] + first) * 4
      ints[tokenKeys + t] = pos - first + 1
    }
    return {
      out: out.byteOffset, q: q.byteOffset, k: kCache.byteOffset, v: vCache.byteOffset,
      tokenSlots: ints.byteOffset + tokenSlots * 4, tokenKeys: ints.byteOffset + tokenKeys * 4, tokens: b.tokens,
      numHeads: b.numHeads, numKvHeads: b.numKvHeads, headDim: b.headDim, scale: b.scale, f16: kCache instanceof Float16Array
    }
  }

  /** In place over the n f32 scores at byte address p: the reference's float64 softmax (e: 2n f32 of scratch). */
  softmax(p: number, e: number, n: number): void {
    this.softmaxKernel(p, e, n, this.constants)
  }

  /** Work units of a job: one per (token, KV head), the query heads of its GQA group together. */
  units(job: AttentionJob): number {
    return job.numKvHeads * job.tokens
  }

  /**
   * Work units [u0, u1) of the job: unit u is KV head floor(u / tokens) of token u mod tokens (head-major,
   * so consecutive units read the same K/V rows). Units go through the kernels in tiles of up to
   * MAX_ATTENTION_ROWS query rows that read the same keys and values: a GQA group's heads, and with
   * groups of 1 or 2 heads, consecutive tokens of one sequence too. Each (token, head) comes out the
   * same whichever tile, call or thread has it (the kernels' sums do not depend on the rows beside it).
   */
  run(job: AttentionJob, u0: number, u1: number): void {
    const { numHeads, numKvHeads, tokens } = job
    const group = numHeads / numKvHeads
    const i32 = new Int32Array(this.arena.memory.buffer)
    const slotsOf = (t: number) => i32[(job.tokenSlots >>> 2) + t]
    for (let u = u0; u < u1;) {
      const g = Math.floor(u / tokens), t = u - g * tokens
      // Tokens of one sequence (the same slot list) whose heads fit one tile together.
      let nt = 1
      while ((nt + 1) * group <= MAX_ATTENTION_ROWS && u + nt < u1 && t + nt < tokens && slotsOf(t + nt) === slotsOf(t)) nt++
      for (let h0 = g * group; h0 < (g + 1) * group; h0 += MAX_ATTENTION_ROWS) this.tile(job, g, t, nt, h0, Math.min(MAX_ATTENTION_ROWS, (g + 1) * group - h0), i32)
      u += nt
    }
  }

  /**
   * Heads [h0, h0 + heads) of tokens [t, t + nt), all under KV head g: scores of every row over the most
   * keys any of them has (a row's extra scores are never read: its softmax takes its own count), the
   * weighted sum of values over the keys all rows have, then each longer row's own last keys.
   */
  private tile(job: AttentionJob, g: number, t: number, nt: number, h0: number, heads: number, i32: Int32Array): void {
    const { headDim, numHeads, numKvHeads } = job
    const kind = job.f16 ? "f16" : "f32"
    const kvDim = numKvHeads * headDim, qDim = numHeads * headDim, ko = g * headDim
    const R = nt * heads, keys = (job.tokenKeys >>> 2) + t
    let nMax = 0, nMin = Infinity
    for (let i = 0; i < nt; i++) {
      nMax = Math.max(nMax, i32[keys + i])
      nMin = Math.min(nMin, i32[keys + i])
    }
    // Each row's probabilities on their own 16-byte boundary (the scores are stored 4 at a time).
    const stride = ((nMax + 3) & ~3) * 4
    const p = this.probs.get((stride / 4) * R).byteOffset, e = this.exps.get(2 * nMax).byteOffset
    const slots = i32[(job.tokenSlots >>> 2) + t]
    const rows = this.rowAddresses, at = rows.byteOffset, outs = at + 4 * MAX_ATTENTION_ROWS
    for (let r = 0; r < R; r++) {
      const offset = ((t + Math.floor(r / heads)) * qDim + (h0 + (r % heads)) * headDim) * 4
      rows[r] = job.q + offset
      rows[MAX_ATTENTION_ROWS + r] = job.out + offset
    }
    this.scores[kind][R - 1](p, stride, at, job.k, slots, nMax, ko, kvDim, headDim, job.scale)
    for (let r = 0; r < R; r++) this.softmax(p + r * stride, e, i32[keys + Math.floor(r / heads)])
    this.values[kind][R - 1](outs, 0, p, stride, job.v, slots, nMin, ko, kvDim, headDim)
    for (let r = 0; r < R; r++) {
      const n = i32[keys + Math.floor(r / heads)]
      if (n === nMin) continue
      rows[2 * MAX_ATTENTION_ROWS] = rows[MAX_ATTENTION_ROWS + r]
      this.values[kind][0](at + 8 * MAX_ATTENTION_ROWS, 1, p + r * stride + nMin * 4, stride, job.v, slots + nMin * 4, n - nMin, ko, kvDim, headDim)
    }
  }

  /**
   * Rank `rank` of `size`'s units: contiguous ranges of about equal cost, a unit costing its token's key
   * count plus a fixed overhead (a prefill's last tokens attend to many more keys than its first, and 3
   * KV heads do not split evenly in 2). Every rank computes the same boundaries from the job alone.
   */
  share(job: AttentionJob, rank: number, size: number): readonly [number, number] {
    const i32 = new Int32Array(this.arena.memory.buffer)
    const keys = (job.tokenKeys >>> 2)
    const cost = (t: number) => i32[keys + t] + UNIT_OVERHEAD_KEYS
    let perHead = 0
    for (let t = 0; t < job.tokens; t++) perHead += cost(t)
    const boundary = (r: number): number => {
      if (r <= 0) return 0
      if (r >= size) return job.numKvHeads * job.tokens
      const target = Math.floor((perHead * job.numKvHeads * r) / size)
      const h = Math.floor(target / perHead)
      let rest = target - h * perHead, t = 0
      while (t < job.tokens && rest > 0) rest -= cost(t++)
      return h * job.tokens + t
    }
    return [boundary(rank), boundary(rank + 1)]
  }
}
