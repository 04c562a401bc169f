import { parseModelConfig, type ModelConfig } from "../../src/engine/config.ts"
import type { Kernels } from "../../src/engine/kernels.ts"
import { matrixElements, sharedAlloc, toBf16Bits, toF32, type Matrix, type MatrixStorage } from "../../src/engine/matrix.ts"
import { quantizable, quantizeMatrix } from "../../src/engine/quantize.ts"
import { mapWeights, type LayerWeights, type ModelWeights } from "../../src/engine/weights.ts"

/** Deterministic PRNG (mulberry32) so random models are the same in every run. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A function that fills an array with draws of `rand` in [-1, 1) and returns it. */
export const uniformFiller = (rand: () => number) => <T extends Float32Array>(a: T): T => {
  for (let i = 0; i < a.length; i++) a[i] = rand() * 2 - 1
  return a
}

/** A config.json object for a small Llama-family model; fields overridable. */
export const rawConfig = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  architectures: ["LlamaForCausalLM"],
  vocab_size: 256,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 4096,
  tie_word_embeddings: false,
  ...overrides
})

export const randomConfig = (overrides: Record<string, unknown> = {}): ModelConfig =>
  parseModelConfig("random/config.json", rawConfig(overrides))

/** Random weights with the scale of a trained model (norms near 1, projections ~ 1/sqrt(fan-in)). */
export const randomWeights = (c: ModelConfig, seed = 1): ModelWeights => {
  const rand = prng(seed)
  const mat = (rows: number, cols: number): Float32Array => {
    const a = new Float32Array(rows * cols)
    const s = Math.sqrt(3 / cols) // uniform(-s, s) has variance 1/cols
    for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * s
    return a
  }
  const vec = (n: number, center: number, spread: number): Float32Array => {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) a[i] = center + (rand() * 2 - 1) * spread
    return a
  }
  const { hiddenSize: h, intermediateSize: im, numHeads, numKvHeads, headDim, vocabSize } = c
  const q = numHeads * headDim, kv = numKvHeads * headDim
  const layers: Array<LayerWeights> = []
  for (let l = 0; l < c.numLayers; l++) {
    layers.push({
      inputNorm: vec(h, 1, 0.1),
      q: mat(q, h), k: mat(kv, h), v: mat(kv, h), o: mat(h, q),
      qBias: c.qkvBias ? vec(q, 0, 0.1) : null,
      kBias: c.qkvBias ? vec(kv, 0, 0.1) : null,
      vBias: c.qkvBias ? vec(kv, 0, 0.1) : null,
      oBias: c.oBias ? vec(h, 0, 0.1) : null,
      postNorm: vec(h, 1, 0.1),
      gate: mat(im, h), up: mat(im, h), down: mat(h, im),
      gateBias: null, upBias: null, downBias: null
    })
  }
  const embed = mat(vocabSize, h)
  return { embed, layers, norm: vec(h, 1, 0.1), lmHead: c.tieWordEmbeddings ? embed : mat(vocabSize, h) }
}

/** Copies weights into a kernel backend's memory (the SIMD kernels only run on tensors in their arena). */
export const weightsFor = (kernels: Kernels, w: ModelWeights): ModelWeights => {
  const arena = kernels.arena
  return arena === undefined ? w : mapWeights(w, (t) => arena.copy(t))
}

/**
 * The same weights with every matrix rounded to `dtype` (norms and biases stay f32), as --dtype loads them,
 * or quantized to a block format as --quantization does (matrices whose rows are not whole blocks keep f32).
 */
export const castWeights = (w: ModelWeights, dtype: MatrixStorage): ModelWeights => {
  const h = w.norm.length
  const toType = (m: Matrix, cols: number): Matrix => {
    const f = new Float32Array(toF32(m))
    if (dtype === "q8_0" || dtype === "q4_0") return quantizable(cols) ? quantizeMatrix(dtype, f, f.length / cols, cols, sharedAlloc) : f
    if (dtype === "float32") return f
    if (dtype === "float16") return Float16Array.from(f)
    return Uint16Array.from(f, toBf16Bits)
  }
  const seen = new Map<Matrix, Matrix>()
  const mat = (m: Matrix, cols = h) => seen.get(m) ?? seen.set(m, toType(m, cols)).get(m)!
  return {
    embed: mat(w.embed),
    norm: w.norm,
    lmHead: mat(w.lmHead),
    layers: w.layers.map((l) => ({
      ...l, q: mat(l.q), k: mat(l.k), v: mat(l.v), o: mat(l.o, matrixElements(l.q) / h), gate: mat(l.gate), up: mat(l.up), down: mat(l.down, matrixElements(l.gate) / h)
    }))
  }
}
