import type { ModelConfig } from "./config.ts"
import { ModelLoadError } from "./errors.ts"
import { allocMatrix, matrixDtype, matrixElements, sharedAlloc, type Matrix, type MatrixAlloc, type LoadQuantization, type WeightDtype } from "./matrix.ts"
import { quantizable, quantizeMatrix } from "./quantize.ts"
import { listModelTensors, TensorReader, type TensorInfo } from "./safetensors.ts"

/**
 * Weights of one decoder layer, row-major, shapes as Hugging Face stores them ([out, in]). Matrices keep
 * the checkpoint's precision (or --dtype's); norms and biases are f32.
 */
export interface LayerWeights {
  readonly inputNorm: Float32Array
  readonly q: Matrix
  readonly k: Matrix
  readonly v: Matrix
  readonly o: Matrix
  readonly qBias: Float32Array | null
  readonly kBias: Float32Array | null
  readonly vBias: Float32Array | null
  readonly oBias: Float32Array | null
  readonly postNorm: Float32Array
  readonly gate: Matrix
  readonly up: Matrix
  readonly down: Matrix
  readonly gateBias: Float32Array | null
  readonly upBias: Float32Array | null
  readonly downBias: Float32Array | null
}

export interface ModelWeights {
  readonly embed: Matrix
  readonly layers: ReadonlyArray<LayerWeights>
  readonly norm: Float32Array
  /** The same array as `embed` when the embeddings are tied. */
  readonly lmHead: Matrix
}

/**
 * f32 storage backed by a SharedArrayBuffer, so that executor worker threads can share the weights
 * without copying them.
 */
export const sharedF32 = sharedAlloc.f32

const STORED: Record<TensorInfo["dtype"], WeightDtype> = { F32: "float32", BF16: "bfloat16", F16: "float16" }

/**
 * Loads and shape-checks every tensor the config calls for; extra tensors in the files are ignored.
 * `alloc` decides where tensors live (shared memory by default, or a kernel backend's arena). Matrices
 * are kept in `dtype`, or in the precision each is stored in when `dtype` is null; norms and biases in f32.
 * With `quantization`, every matrix whose rows are whole 32-value blocks is quantized to that format instead.
 */
export const loadWeights = (
  dir: string,
  config: ModelConfig,
  alloc: MatrixAlloc = sharedAlloc,
  dtype: WeightDtype | null = null,
  quantization: LoadQuantization | null = null
): ModelWeights => {
  const reader = new TensorReader()
  try {
    return readWeights(dir, config, alloc, dtype, quantization, reader)
  } finally {
    reader.close()
  }
}

/**
 * The f16 matmul widens weights as finite values (tools/wasm-matmul.ts, widenWeights4): an inf or NaN, in
 * the checkpoint or from --dtype float16 rounding a value past 65504, is refused by name.
 */
const requireFiniteF16 = (dir: string, name: string, m: Float16Array): void => {
  const bits = new Uint16Array(m.buffer, m.byteOffset, m.length)
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7c00) === 0x7c00) {
      throw new ModelLoadError(dir, `tensor "${name}" holds ${Number.isNaN(m[i]) ? "NaN" : "an infinite value"} at element ${i} as float16${m[i] === Infinity || m[i] === -Infinity ? " (a value beyond float16's 65504? try --dtype bfloat16)" : ""}`)
    }
  }
}

const readWeights = (dir: string, config: ModelConfig, alloc: MatrixAlloc, dtype: WeightDtype | null, quantization: LoadQuantization | null, reader: TensorReader): ModelWeights => {
  const tensors = listModelTensors(dir)
  const find = (name: string, shape: ReadonlyArray<number>): TensorInfo => {
    const t = tensors.get(name)
    if (!t) throw new ModelLoadError(dir, `missing tensor "${name}" (expected shape [${shape.join(", ")}])`)
    checkShape(t, shape)
    return t
  }
  const load = (name: string, shape: ReadonlyArray<number>): Float32Array => {
    const dst = alloc.f32(shape.reduce((a, b) => a * b, 1))
    reader.read(find(name, shape), dst)
    return dst
  }
  const matrix = (name: string, shape: readonly [number, number]): Matrix => {
    const t = find(name, shape)
    // As llama.cpp's converter does, a matrix whose rows are not whole blocks stays unquantized.
    if (quantization !== null && quantizable(shape[1])) {
      const values = new Float32Array(shape[0] * shape[1])
      reader.read(t, values)
      return quantizeMatrix(quantization, values, shape[0], shape[1], alloc)
    }
    const dst = allocMatrix(alloc, dtype ?? STORED[t.dtype], shape[0] * shape[1])
    reader.read(t, dst)
    if (dst instanceof Float16Array) requireFiniteF16(dir, name, dst)
    return dst
  }
  const optional = (name: string, shape: ReadonlyArray<number>, present: boolean): Float32Array | null =>
    present ? load(name, shape) : null

  const { hiddenSize: h, intermediateSize: im, numHeads, numKvHeads, headDim, vocabSize } = config
  const qDim = numHeads * headDim
  const kvDim = numKvHeads * headDim
  const embed = matrix("model.embed_tokens.weight", [vocabSize, h])
  const layers: Array<LayerWeights> = []
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}.`
    layers.push({
      inputNorm: load(`${p}input_layernorm.weight`, [h]),
      q: matrix(`${p}self_attn.q_proj.weight`, [qDim, h]),
      k: matrix(`${p}self_attn.k_proj.weight`, [kvDim, h]),
      v: matrix(`${p}self_attn.v_proj.weight`, [kvDim, h]),
      o: matrix(`${p}self_attn.o_proj.weight`, [h, qDim]),
      qBias: optional(`${p}self_attn.q_proj.bias`, [qDim], config.qkvBias),
      kBias: optional(`${p}self_attn.k_proj.bias`, [kvDim], config.qkvBias),
      vBias: optional(`${p}self_attn.v_proj.bias`, [kvDim], config.qkvBias),
      oBias: optional(`${p}self_attn.o_proj.bias`, [h], config.oBias),
      postNorm: load(`${p}post_attention_layernorm.weight`, [h]),
      gate: matrix(`${p}mlp.gate_proj.weight`, [im, h]),
      up: matrix(`${p}mlp.up_proj.weight`, [im, h]),
      down: matrix(`${p}mlp.down_proj.weight`, [h, im]),
      gateBias: optional(`${p}mlp.gate_proj.bias`, [im], config.mlpBias),
      upBias: optional(`${p}mlp.up_proj.bias`, [im], config.mlpBias),
      downBias: optional(`${p}mlp.down_proj.bias`, [h], config.mlpBias)
    })
  }
  const norm = load("model.norm.weight", [h])
  // Some checkpoints with tied embeddings still ship lm_head.weight; when tied, the embedding wins (as in HF).
  const lmHead = config.tieWordEmbeddings ? embed : matrix("lm_head.weight", [vocabSize, h])
  return { embed, layers, norm, lmHead }
}

const checkShape = (t: TensorInfo, expected: ReadonlyArray<number>): void => {
  const ok = t.shape.length === expected.length && t.shape.every((d, i) => d === expected[i])
  if (!ok) {
    throw new ModelLoadError(t.file, `tensor "${t.name}" has shape [${t.shape.join(", ")}], expected [${expected.join(", ")}]`)
  }
}

/** The same weights with every tensor passed through `f`, which keeps each tensor's type (tied tensors stay tied). */
export const mapWeights = (w: ModelWeights, f: <T extends Matrix>(t: T) => T): ModelWeights => {
  const seen = new Map<Matrix, Matrix>()
  const m = <T extends Matrix>(t: T): T => {
    let r = seen.get(t)
    if (r === undefined) seen.set(t, (r = f(t)))
    return r as T
  }
  const o = (t: Float32Array | null) => (t === null ? null : m(t))
  return {
    embed: m(w.embed),
    norm: m(w.norm),
    lmHead: m(w.lmHead),
    layers: w.layers.map((l) => ({
      inputNorm: m(l.inputNorm), q: m(l.q), k: m(l.k), v: m(l.v), o: m(l.o),
      qBias: o(l.qBias), kBias: o(l.kBias), vBias: o(l.vBias), oBias: o(l.oBias),
      postNorm: m(l.postNorm), gate: m(l.gate), up: m(l.up), down: m(l.down),
      gateBias: o(l.gateBias), upBias: o(l.upBias), downBias: o(l.downBias)
    }))
  }
}

/** Number of parameters the weights hold (tied embeddings counted once). */
export const parameterCount = (w: ModelWeights): number => {
  let n = matrixElements(w.embed) + w.norm.length + (w.lmHead === w.embed ? 0 : matrixElements(w.lmHead))
  for (const l of w.layers) {
    for (const t of Object.values(l)) if (t) n += matrixElements(t as Matrix)
  }
  return n
}

/** How the weight matrices are stored, most common first ("q4_k+q6_k+float32" for a Q4_K_M file). */
export const matrixStorages = (w: ModelWeights): string => {
  const counts = new Map<string, number>()
  for (const m of new Set<Matrix>([w.embed, w.lmHead, ...w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])])) {
    counts.set(matrixDtype(m), (counts.get(matrixDtype(m)) ?? 0) + 1)
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([s]) => s).join("+")
}
