/**
 * Paged attention on the WASM kernels (tools/wasm-attention.ts): dot products and the weighted sum of V
 * in SIMD, the softmax between them in float64 (as the reference kernels compute it). A step is described once
 * (`AttentionJob`: pointers into the shared memory, and for every token where its keys' slots start and
 * how many it attends to); any thread attached to the memory can then compute any range of its (token, head) units,
 * and each (token, head) is computed the same way whichever thread does it.
 */
import type { AttentionBatch, KvStorage } from "../kernels.ts"
import type { WasmArena } from "./arena.ts"

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

/** A (token, head) unit's cost beyond its keys, in keys: the calls and the pass over the head's output. */
const UNIT_OVERHEAD_KEYS = 16

type ScoresFn = (scores: number, q: number, pool: number, slots: number, n: number, ko: number, kvDim: number, headDim: number, scale: number) => void
type ValuesFn = (out: number, probs: number, pool: number, slots: number, n: number, ko: number, kvDim: number, headDim: number) => void
type SoftmaxFn = (probs: number, exps: number, n: number) => void

/** Grow-only scratch in the arena (one per thread). */
class Scratch<T extends Float32Array | Int32Array> {
  private array: T | null = null
  private readonly arena: WasmArena
  private readonly alloc: (n: number) => T
  constructor(arena: WasmArena, alloc: (n: number) => T) {
    this.arena = arena
    this.alloc = alloc
  }
  get(n: number): T {
    if (this.array === null || this.array.length < n) this.array = this.alloc(Math.max(n, 2 * (this.array?.length ?? 0), 1024))
    return this.arena.rebase(this.array)
  }
}

export class SimdAttention {
  private readonly scores: Record<"f32" | "f16", ScoresFn>
  private readonly values: Record<"f32" | "f16", ValuesFn>
  private readonly probs: Scratch<Float32Array>
  private readonly slots: Scratch<Int32Array>
  /** The softmax's float64 exponentials (2 f32 per value). */
  private readonly exps: Scratch<Float32Array>
  private readonly softmax: SoftmaxFn

  private readonly arena: WasmArena

  constructor(arena: WasmArena, instance: WebAssembly.Instance) {
    this.arena = arena
    const e = instance.exports
    this.scores = { f32: e.attn_scores_f32 as ScoresFn, f16: e.attn_scores_f16 as ScoresFn }
    this.values = { f32: e.attn_values_f32 as ValuesFn, f16: e.attn_values_f16 as ValuesFn }
    this.probs = new Scratch(arena, (n) => arena.allocF32(n))
    this.slots = new Scratch(arena, (n) => arena.allocI32(n))
    this.exps = new Scratch(arena, (n) => arena.allocF32(n))
    this.softmax = e.attn_softmax as SoftmaxFn
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

  /**
   * Work units [u0, u1) of the job: unit u is head floor(u / tokens) of token u mod tokens (head-major,
   * so consecutive units read the same K/V rows). A unit is computed the same way whichever call has it.
   */
  run(job: AttentionJob, u0: number, u1: number): void {
    const { headDim, numHeads, numKvHeads, tokens } = job
    const kind = job.f16 ? "f16" : "f32"
    const scores = this.scores[kind], values = this.values[kind]
    const group = numHeads / numKvHeads, kvDim = numKvHeads * headDim, qDim = numHeads * headDim
    const i32 = new Int32Array(this.arena.memory.buffer)
    for (let u = u0; u < u1; u++) {
      const h = Math.floor(u / tokens), t = u - h * tokens
      const slots = i32[(job.tokenSlots >> 2) + t], n = i32[(job.tokenKeys >> 2) + t]
      const p = this.probs.get(n).byteOffset, e = this.exps.get(2 * n).byteOffset
      const qo = (t * qDim + h * headDim) * 4
      const ko = Math.floor(h / group) * headDim
      scores(p, job.q + qo, job.k, slots, n, ko, kvDim, headDim, job.scale)
      this.softmax(p, e, n)
      values(job.out + qo, p, job.v, slots, n, ko, kvDim, headDim)
    }
  }

  /**
   * Rank `rank` of `size`'s units: contiguous ranges of about equal cost, a unit costing its token's key
   * count plus a fixed overhead (a prefill's last tokens attend to many more keys than its first, and 9
   * heads do not split evenly in 2). Every rank computes the same boundaries from the job alone.
   */
  share(job: AttentionJob, rank: number, size: number): readonly [number, number] {
    const i32 = new Int32Array(this.arena.memory.buffer)
    const keys = (job.tokenKeys >> 2)
    const cost = (t: number) => i32[keys + t] + UNIT_OVERHEAD_KEYS
    let perHead = 0
    for (let t = 0; t < job.tokens; t++) perHead += cost(t)
    const boundary = (r: number): number => {
      if (r <= 0) return 0
      if (r >= size) return job.numHeads * job.tokens
      const target = Math.floor((perHead * job.numHeads * r) / size)
      const h = Math.floor(target / perHead)
      let rest = target - h * perHead, t = 0
      while (t < job.tokens && rest > 0) rest -= cost(t++)
      return h * job.tokens + t
    }
    return [boundary(rank), boundary(rank + 1)]
  }
}
