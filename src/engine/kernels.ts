/**
 * The numeric kernels behind the forward pass, as one small interface so that faster backends (WASM SIMD,
 * worker threads) can replace the reference ones without touching the model code.
 *
 * Exactness rule for every implementation: the value computed for one row must not depend on which other
 * rows are in the call. The reference kernels guarantee it by giving each output element its own
 * accumulation, always in the same order (f64 accumulators, ascending index), whatever the batch holds.
 */
import { readRow, type Matrix } from "./matrix.ts"
import type { WasmArena } from "./wasm/arena.ts"

export type KvStorage = Float32Array | Float16Array

export interface AttentionBatch {
  readonly tokens: number
  readonly positions: Int32Array
  /** For each token, the index of its sequence in `blockTables`. */
  readonly seqIndex: Int32Array
  readonly blockTables: ReadonlyArray<Int32Array>
  readonly blockSize: number
  readonly numHeads: number
  readonly numKvHeads: number
  readonly headDim: number
  readonly scale: number
  /** Attend only to the last `slidingWindow` positions (inclusive of the query); null = whole context. */
  readonly slidingWindow: number | null
}

/** One of several matmuls over the same input rows (Kernels.matmuls). */
export interface MatmulItem {
  readonly out: Float32Array
  readonly w: Matrix
  readonly outDim: number
  readonly bias: Float32Array | null
}

export interface Kernels {
  readonly name: string
  /** Threads one operation is split over (--tensor-parallel-size); 1 when absent. */
  readonly threads?: number
  /** Where this backend wants tensors (weights, activations) to live, when it cares. */
  readonly arena?: WasmArena
  /** A zeroed f32 tensor in memory this backend computes on fastest. */
  alloc(n: number): Float32Array
  /**
   * out[r, o] = sum_i x[r, i] * w[o, i] + bias[o], for r < rows; w is [outDim, inDim] (HF Linear layout), at
   * its stored precision (f32, f16 or bf16 bits; see matrix.ts).
   */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, rows: number, inDim: number, outDim: number, bias: Float32Array | null): void
  /** Several matmuls of the same input (q/k/v, gate/up): one parallel step where the backend has threads. */
  matmuls(x: Float32Array, rows: number, inDim: number, items: ReadonlyArray<MatmulItem>): void
  /** out[r] = weight * x[r] / sqrt(mean(x[r]^2) + eps). */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void
  /** Rotates each head of each row in place, Hugging Face rotate-half layout; cos/sin are [position][headDim/2]. */
  rope(x: Float32Array, rows: number, numHeads: number, headDim: number, positions: Int32Array, cos: Float64Array, sin: Float64Array): void
  /** gate[i] = silu(gate[i]) * up[i]. */
  siluMul(gate: Float32Array, up: Float32Array, n: number): void
  /** h[i] += x[i]. */
  addInPlace(h: Float32Array, x: Float32Array, n: number): void
  /** Causal attention of each query token over its sequence's cached K/V, read through the block table. */
  pagedAttention(out: Float32Array, q: Float32Array, kCache: KvStorage, vCache: KvStorage, batch: AttentionBatch): void
}

const dot = (x: Float32Array, xo: number, w: Float32Array, wo: number, n: number): number => {
  let acc = 0
  for (let i = 0; i < n; i++) acc += x[xo + i] * w[wo + i]
  return acc
}

/** Plain TypeScript kernels: the reference every faster backend is checked against. */
export const referenceKernels: Kernels = {
  name: "reference-ts",

  alloc: (n) => new Float32Array(n),

  matmul(out, x, stored, rows, inDim, outDim, bias) {
    // 16-bit weights are widened (exactly) one row at a time into a scratch row.
    const direct = stored instanceof Float32Array
    const w = direct ? stored : new Float32Array(inDim)
    // Weight row outer, input rows inner: a weight row is read from memory once per call and reused by
    // every row of the batch (this is what makes batching pay). Four rows share one pass over the weight
    // row, each with its own accumulator in the same order as the single-row tail, so results match.
    for (let o = 0; o < outDim; o++) {
      if (!direct) readRow(stored, o, inDim, w)
      const wo = direct ? o * inDim : 0
      const b = bias === null ? 0 : bias[o]
      let r = 0
      for (; r + 4 <= rows; r += 4) {
        const x0 = r * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0
        for (let i = 0; i < inDim; i++) {
          const wi = w[wo + i]
          a0 += x[x0 + i] * wi
          a1 += x[x1 + i] * wi
          a2 += x[x2 + i] * wi
          a3 += x[x3 + i] * wi
        }
        out[r * outDim + o] = a0 + b
        out[(r + 1) * outDim + o] = a1 + b
        out[(r + 2) * outDim + o] = a2 + b
        out[(r + 3) * outDim + o] = a3 + b
      }
      for (; r < rows; r++) out[r * outDim + o] = dot(x, r * inDim, w, wo, inDim) + b
    }
  },

  matmuls(x, rows, inDim, items) {
    for (const m of items) this.matmul(m.out, x, m.w, rows, inDim, m.outDim, m.bias)
  },

  rmsNorm(out, x, weight, rows, dim, eps) {
    for (let r = 0; r < rows; r++) {
      const off = r * dim
      let ss = 0
      for (let i = 0; i < dim; i++) ss += x[off + i] * x[off + i]
      const inv = 1 / Math.sqrt(ss / dim + eps)
      for (let i = 0; i < dim; i++) out[off + i] = weight[i] * (x[off + i] * inv)
    }
  },

  rope(x, rows, numHeads, headDim, positions, cos, sin) {
    const half = headDim / 2
    for (let r = 0; r < rows; r++) {
      const t = positions[r] * half
      for (let h = 0; h < numHeads; h++) {
        const base = (r * numHeads + h) * headDim
        for (let i = 0; i < half; i++) {
          const c = cos[t + i], s = sin[t + i]
          const x1 = x[base + i], x2 = x[base + half + i]
          x[base + i] = x1 * c - x2 * s
          x[base + half + i] = x2 * c + x1 * s
        }
      }
    }
  },

  siluMul(gate, up, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]
      gate[i] = (g / (1 + Math.exp(-g))) * up[i]
    }
  },

  addInPlace(h, x, n) {
    for (let i = 0; i < n; i++) h[i] += x[i]
  },

  pagedAttention(out, q, kCache, vCache, b) {
    const { headDim, numHeads, numKvHeads, blockSize, scale } = b
    const group = numHeads / numKvHeads
    const kvDim = numKvHeads * headDim
    const qDim = numHeads * headDim
    let scores = new Float64Array(256)
    const acc = new Float64Array(headDim)
    for (let t = 0; t < b.tokens; t++) {
      const pos = b.positions[t]
      const table = b.blockTables[b.seqIndex[t]]
      const first = b.slidingWindow === null ? 0 : Math.max(0, pos - b.slidingWindow + 1)
      const n = pos - first + 1
      if (scores.length < n) scores = new Float64Array(n * 2)
      for (let h = 0; h < numHeads; h++) {
        const qo = t * qDim + h * headDim
        const ko = Math.floor(h / group) * headDim
        let max = -Infinity
        for (let j = first; j <= pos; j++) {
          const slot = table[Math.floor(j / blockSize)] * blockSize + (j % blockSize)
          const kb = slot * kvDim + ko
          let s = 0
          for (let d = 0; d < headDim; d++) s += q[qo + d] * kCache[kb + d]
          s *= scale
          scores[j - first] = s
          if (s > max) max = s
        }
        let sum = 0
        for (let j = 0; j < n; j++) {
          const e = Math.exp(scores[j] - max)
          scores[j] = e
          sum += e
        }
        acc.fill(0)
        for (let j = first; j <= pos; j++) {
          const p = scores[j - first] / sum
          const slot = table[Math.floor(j / blockSize)] * blockSize + (j % blockSize)
          const vb = slot * kvDim + ko
          for (let d = 0; d < headDim; d++) acc[d] += p * vCache[vb + d]
        }
        for (let d = 0; d < headDim; d++) out[qo + d] = acc[d]
      }
    }
  }
}
