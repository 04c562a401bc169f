import type { ModelConfig, RopeScaling } from "./config.ts"

/**
 * Inverse frequencies for rotary embeddings, in f64, including Llama 3's frequency-dependent scaling
 * (same formula as Hugging Face's `_compute_llama3_parameters`).
 */
export const ropeInverseFrequencies = (headDim: number, theta: number, scaling: RopeScaling | null): Float64Array => {
  const half = headDim / 2
  const inv = new Float64Array(half)
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim)
  if (scaling === null) return inv
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] /= scaling.factor
    return inv
  }
  if (scaling.type === "factors") {
    // llama.cpp divides each frequency by its factor; for Llama 3 the factors are 1/(HF's blend weight).
    for (let i = 0; i < half; i++) inv[i] /= scaling.factors[i]
    return inv
  }
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldCtx } = scaling
  const lowFreqWavelen = oldCtx / lowFreqFactor
  const highFreqWavelen = oldCtx / highFreqFactor
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i]
    if (wavelen > lowFreqWavelen) inv[i] = inv[i] / factor
    else if (wavelen >= highFreqWavelen) {
      // Medium band: interpolate between the scaled and unscaled frequency.
      const smooth = (oldCtx / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
      inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i]
    }
  }
  return inv
}

/** cos/sin tables indexed [position * headDim/2 + i], grown on demand up to the positions actually used. */
export class RopeTable {
  readonly inv: Float64Array
  cos = new Float64Array(0)
  sin = new Float64Array(0)
  private positions = 0

  constructor(config: ModelConfig) {
    this.inv = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling)
  }

  /** Makes sure positions [0, n) are in the table. */
  ensure(n: number): void {
    if (n <= this.positions) return
    const target = Math.max(n, this.positions * 2, 256)
    const half = this.inv.length
    const cos = new Float64Array(target * half)
    const sin = new Float64Array(target * half)
    cos.set(this.cos)
    sin.set(this.sin)
    for (let p = this.positions; p < target; p++) {
      for (let i = 0; i < half; i++) {
        const a = p * this.inv[i]
        cos[p * half + i] = Math.cos(a)
        sin[p * half + i] = Math.sin(a)
      }
    }
    this.cos = cos
    this.sin = sin
    this.positions = target
  }
}
