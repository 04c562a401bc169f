/**
 * Embeddings from the model's final hidden states, as vLLM's pooling models make them: the last prompt
 * token's state, or the mean over every prompt token, then scaled to length 1. Sums and the norm are
 * taken in f64, in token order, so a text's embedding does not depend on how its prompt was chunked or
 * on what else was in the step.
 */
export type PoolingType = "last" | "mean"

export const POOLING_TYPES: ReadonlyArray<PoolingType> = ["last", "mean"]

/** One embedding request's pooling state, fed the hidden rows of each of its prefill chunks in order. */
export class Pooler {
  readonly type: PoolingType
  private readonly sum: Float64Array
  private rows = 0

  constructor(type: PoolingType, hiddenSize: number) {
    this.type = type
    this.sum = new Float64Array(hiddenSize)
  }

  /** Rows whose hidden states a chunk ending at `end` of a `promptLength`-token prompt needs. */
  static rowsOf(type: PoolingType, tokens: number, end: number, promptLength: number): "all" | "last" | "none" {
    if (type === "mean") return "all"
    return end === promptLength && tokens > 0 ? "last" : "none"
  }

  /** Forgets every row (the prompt is being computed again from its start). */
  reset(): void {
    this.sum.fill(0)
    this.rows = 0
  }

  /** Adds `count` rows of `hidden` starting at element `offset` (last pooling keeps only the latest). */
  add(hidden: Float32Array, offset: number, count: number): void {
    const H = this.sum.length
    if (this.type === "last" && count > 0) {
      this.sum.fill(0)
      this.rows = 0
      offset += (count - 1) * H
      count = 1
    }
    for (let i = 0; i < count; i++) {
      const off = offset + i * H
      for (let j = 0; j < H; j++) this.sum[j] += hidden[off + j]
      this.rows++
    }
  }

  /** The pooled vector, scaled to unit length (a zero vector stays zero). */
  result(): Array<number> {
    const H = this.sum.length
    const out = new Array<number>(H)
    let norm = 0
    for (let j = 0; j < H; j++) {
      const x = this.rows === 0 ? 0 : this.sum[j] / this.rows
      out[j] = x
      norm += x * x
    }
    norm = Math.sqrt(norm)
    if (norm > 0) for (let j = 0; j < H; j++) out[j] /= norm
    return out
  }
}
