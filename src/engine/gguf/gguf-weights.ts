import * as fs from "node:fs"
import type { ModelConfig } from "../config.ts"
import { ModelLoadError } from "../errors.ts"
import { sharedAlloc, type Matrix, type MatrixAlloc, type QuantFormat } from "../matrix.ts"
import type { LayerWeights, ModelWeights } from "../weights.ts"
import { dequantize } from "./dequantize.ts"
import { rowBytes, supportedTypeList, type TensorType } from "./ggml-types.ts"
import { readTensorRange, tensorTypeName, type GgufFile, type GgufTensorInfo } from "./gguf-file.ts"

/**
 * Weights of a GGUF file as the forward pass wants them (Hugging Face layout: Q8_0 / Q4_0 / Q5_0 / Q4_K /
 * Q6_K matrices as their stored blocks, everything else float32), read tensor by tensor in bounded
 * chunks. llama.cpp's converter interleaves the rows of each attn_q / attn_k head for its rope (convert_hf_to_gguf.py, LlamaModel.permute); for the llama architecture the rows are put back in
 * Hugging Face's rotate-half order while reading.
 */

/** Where one weight came from: its tensor, and whether its rows were interleaved per head (and how many heads). */
export interface GgufWeightOrigin {
  readonly tensor: GgufTensorInfo
  readonly permutedHeads: number | null
}

type LayerOrigins = { readonly [K in keyof LayerWeights]: GgufWeightOrigin | null }

/** The origin of every weight, by the same keys as ModelWeights: the seam for kernels on stored blocks. */
export interface GgufWeightOrigins {
  readonly embed: GgufWeightOrigin
  readonly norm: GgufWeightOrigin
  readonly lmHead: GgufWeightOrigin
  readonly layers: ReadonlyArray<LayerOrigins>
}

const LAYER_TENSORS: ReadonlyArray<readonly [keyof LayerWeights, string]> = [
  ["inputNorm", "attn_norm.weight"], ["q", "attn_q.weight"], ["k", "attn_k.weight"], ["v", "attn_v.weight"],
  ["o", "attn_output.weight"], ["qBias", "attn_q.bias"], ["kBias", "attn_k.bias"], ["vBias", "attn_v.bias"],
  ["oBias", "attn_output.bias"], ["postNorm", "ffn_norm.weight"], ["gate", "ffn_gate.weight"], ["up", "ffn_up.weight"],
  ["down", "ffn_down.weight"], ["gateBias", "ffn_gate.bias"], ["upBias", "ffn_up.bias"], ["downBias", "ffn_down.bias"]
]
const GLOBAL_TENSORS = new Set(["token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight"])
const CHUNK_BYTES = 1 << 22

/** Row `g` of a tensor whose head rows were interleaved holds Hugging Face row hfRow(g). */
const hfRow = (g: number, rows: number, heads: number): number => {
  const d = rows / heads
  const within = g % d
  return g - within + (within % 2) * (d / 2) + Math.floor(within / 2)
}

/** Rejects per-layer tensors this architecture does not use (a different model would be misread silently). */
const checkKnownTensors = (g: GgufFile): void => {
  const known = new Set(LAYER_TENSORS.map(([, n]) => n))
  for (const name of g.tensors.keys()) {
    const m = /^blk\.\d+\.(.+)$/.exec(name)
    if (m ? !known.has(m[1]) : !GLOBAL_TENSORS.has(name)) {
      throw new ModelLoadError(g.file, `tensor "${name}" is not part of the llama/qwen2 layout Inferline runs (a different architecture variant?)`)
    }
  }
}

const expectTensor = (g: GgufFile, name: string, shape: ReadonlyArray<number>): GgufTensorInfo => {
  const t = g.tensors.get(name)
  if (t === undefined) throw new ModelLoadError(g.file, `missing tensor "${name}" (expected shape [${shape.join(", ")}])`)
  const got = [...t.dims].reverse()
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    throw new ModelLoadError(g.file, `tensor "${name}" has shape [${got.join(", ")}], expected [${shape.join(", ")}]`)
  }
  if (t.type === null) {
    throw new ModelLoadError(g.file, `tensor "${name}" has type ${tensorTypeName(t)}, which Inferline cannot read; supported: ${supportedTypeList()}`)
  }
  return t
}

/**
 * One read buffer for a whole load, grown to the largest chunk a tensor needs: a fresh chunk per tensor
 * left up to 4 MiB per tensor behind as freed but resident memory.
 */
class ReadScratch {
  private buffer: Uint8Array | null = null
  get(n: number): Uint8Array {
    if (this.buffer === null || this.buffer.length < n) this.buffer = new Uint8Array(n)
    return this.buffer.subarray(0, n)
  }
}

/** Calls `each` with every row's stored bytes and its Hugging Face row index, reading in bounded chunks. */
const forEachRow = (fd: number, g: GgufFile, origin: GgufWeightOrigin, each: (bytes: Uint8Array, hfRowIndex: number) => void, scratch = new ReadScratch()): void => {
  const t = origin.tensor
  const cols = t.dims[0], rows = t.elements / cols
  const row = rowBytes(t.type!, cols)!
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / row))
  const chunk = scratch.get(Math.min(perChunk, rows) * row)
  for (let first = 0; first < rows; first += perChunk) {
    const n = Math.min(perChunk, rows - first)
    readTensorRange(fd, g, t, first * row, n * row, chunk)
    for (let r = 0; r < n; r++) {
      each(chunk.subarray(r * row, (r + 1) * row), origin.permutedHeads === null ? first + r : hfRow(first + r, rows, origin.permutedHeads))
    }
  }
}

/** Dequantizes a whole tensor into `dst` (rows put back in Hugging Face order when permuted). */
const readInto = (fd: number, g: GgufFile, origin: GgufWeightOrigin, dst: Float32Array, scratch?: ReadScratch): void => {
  const t = origin.tensor
  const cols = t.dims[0]
  forEachRow(fd, g, origin, (bytes, r) => dequantize(t.type!, bytes, dst, r * cols, cols), scratch)
}

/** Copies a tensor's stored blocks into `dst` (rows put back in Hugging Face order when permuted). */
const copyBlocksInto = (fd: number, g: GgufFile, origin: GgufWeightOrigin, dst: Uint8Array, scratch?: ReadScratch): void => {
  const row = rowBytes(origin.tensor.type!, origin.tensor.dims[0])!
  forEachRow(fd, g, origin, (bytes, r) => dst.set(bytes, r * row), scratch)
}

/** The stored blocks of a weight, rows in Hugging Face order (for kernels that work on quantized blocks). */
export const readStoredBlocks = (g: GgufFile, origin: GgufWeightOrigin): Uint8Array => {
  const out = new Uint8Array(origin.tensor.byteLength)
  const fd = fs.openSync(g.file, "r")
  try {
    copyBlocksInto(fd, g, origin, out)
  } finally {
    fs.closeSync(fd)
  }
  return out
}

/** The values of a small float tensor (rope_freqs), or null when the file has none. */
export const readSmallTensor = (g: GgufFile, name: string): Array<number> | null => {
  const t = g.tensors.get(name)
  if (t === undefined) return null
  const values = new Float32Array(t.elements)
  const fd = fs.openSync(g.file, "r")
  try {
    readInto(fd, g, { tensor: expectTensor(g, name, [...t.dims].reverse()), permutedHeads: null }, values)
  } finally {
    fs.closeSync(fd)
  }
  return Array.from(values)
}

export interface GgufWeights {
  readonly weights: ModelWeights
  readonly origins: GgufWeightOrigins
}

/** GGUF types whose blocks the kernels read directly (tools/wasm-matmul-quant.ts); the rest are dequantized at load. */
const KEPT_QUANTIZED: Partial<Record<TensorType, QuantFormat>> = { Q8_0: "q8_0", Q4_0: "q4_0", Q5_0: "q5_0", Q4_K: "q4_k", Q6_K: "q6_k" }
const MATRIX_KEYS = new Set<keyof LayerWeights>(["q", "k", "v", "o", "gate", "up", "down"])

/**
 * Reads every weight the config calls for; `alloc` decides where tensors live. Matrices stored as Q8_0,
 * Q4_0, Q5_0, Q4_K or Q6_K stay as their blocks (a QuantizedMatrix); every other tensor is dequantized to float32.
 */
export const loadGgufWeights = (g: GgufFile, config: ModelConfig, alloc: MatrixAlloc = sharedAlloc): GgufWeights => {
  checkKnownTensors(g)
  const { hiddenSize: h, intermediateSize: im, numHeads, numKvHeads, headDim, vocabSize } = config
  const qDim = numHeads * headDim, kvDim = numKvHeads * headDim
  // qwen2 uses llama.cpp's NEOX rope, whose converter leaves q/k rows as Hugging Face has them.
  const permuted = config.architecture !== "Qwen2ForCausalLM"
  const shapes: Record<keyof LayerWeights, ReadonlyArray<number>> = {
    inputNorm: [h], q: [qDim, h], k: [kvDim, h], v: [kvDim, h], o: [h, qDim], qBias: [qDim], kBias: [kvDim], vBias: [kvDim],
    oBias: [h], postNorm: [h], gate: [im, h], up: [im, h], down: [h, im], gateBias: [im], upBias: [im], downBias: [h]
  }
  const present: Record<keyof LayerWeights, boolean> = {
    inputNorm: true, q: true, k: true, v: true, o: true, qBias: config.qkvBias, kBias: config.qkvBias, vBias: config.qkvBias,
    oBias: config.oBias, postNorm: true, gate: true, up: true, down: true, gateBias: config.mlpBias, upBias: config.mlpBias, downBias: config.mlpBias
  }
  const fd = fs.openSync(g.file, "r")
  const scratch = new ReadScratch()
  try {
    const load = (name: string, shape: ReadonlyArray<number>, permutedHeads: number | null = null, matrix = false) => {
      const origin: GgufWeightOrigin = { tensor: expectTensor(g, name, shape), permutedHeads }
      const format = matrix ? KEPT_QUANTIZED[origin.tensor.type!] : undefined
      if (format !== undefined) {
        const blocks = alloc.u8(origin.tensor.byteLength)
        copyBlocksInto(fd, g, origin, blocks, scratch)
        const dst: Matrix = { format, blocks, rows: shape[0], cols: shape[1] }
        return { origin, dst }
      }
      const dst = alloc.f32(shape.reduce((a, b) => a * b, 1))
      readInto(fd, g, origin, dst, scratch)
      return { origin, dst }
    }
    const layers: Array<LayerWeights> = []
    const layerOrigins: Array<LayerOrigins> = []
    for (let i = 0; i < config.numLayers; i++) {
      const w: Record<string, Matrix | null> = {}
      const o: Record<string, GgufWeightOrigin | null> = {}
      for (const [key, suffix] of LAYER_TENSORS) {
        if (!present[key]) {
          w[key] = o[key] = null
          continue
        }
        const heads = !permuted ? null : key === "q" || key === "qBias" ? numHeads : key === "k" || key === "kBias" ? numKvHeads : null
        const r = load(`blk.${i}.${suffix}`, shapes[key], heads, MATRIX_KEYS.has(key))
        w[key] = r.dst
        o[key] = r.origin
      }
      layers.push(w as unknown as LayerWeights)
      layerOrigins.push(o as LayerOrigins)
    }
    const embed = load("token_embd.weight", [vocabSize, h], null, true)
    const norm = load("output_norm.weight", [h])
    const lmHead = config.tieWordEmbeddings ? embed : load("output.weight", [vocabSize, h], null, true)
    return {
      weights: { embed: embed.dst, layers, norm: norm.dst as Float32Array, lmHead: lmHead.dst },
      origins: { embed: embed.origin, norm: norm.origin, lmHead: lmHead.origin, layers: layerOrigins }
    }
  } finally {
    fs.closeSync(fd)
  }
}
