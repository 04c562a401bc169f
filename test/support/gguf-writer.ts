/**
 * A small GGUF v3 writer for the llama.cpp side-by-side bench: the same weights Inferline serves, written
 * as llama.cpp reads them (llama metadata, F32 norms, F16 or F32 matrices, attn_q/attn_k rows interleaved
 * per head as convert_hf_to_gguf.py does for llama.cpp's rope). The runtime only reads GGUF
 * (src/engine/gguf); the bench and the tests check its files with that reader.
 */
import * as fs from "node:fs"
import type { ModelConfig } from "../../src/engine/config.ts"
import type { ModelWeights } from "../../src/engine/weights.ts"
import { toF32, type Matrix } from "../../src/engine/matrix.ts"

const T_UINT32 = 4, T_FLOAT32 = 6, T_STRING = 8, T_ARRAY = 9, T_INT32 = 5
const GGML_F32 = 0, GGML_F16 = 1
const ALIGN = 32

type Meta = readonly [key: string, type: "u32" | "f32" | "str" | "str[]" | "i32[]", value: unknown]

class Bytes {
  private parts: Array<Buffer> = []
  length = 0
  push(b: Buffer): void {
    this.parts.push(b)
    this.length += b.length
  }
  u32(v: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(v)
    this.push(b)
  }
  u64(v: number): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(v))
    this.push(b)
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8")
    this.u64(b.length)
    this.push(b)
  }
  concat(): Buffer {
    return Buffer.concat(this.parts)
  }
}

const writeMeta = (out: Bytes, [key, type, value]: Meta): void => {
  out.str(key)
  if (type === "u32") {
    out.u32(T_UINT32)
    out.u32(value as number)
  } else if (type === "f32") {
    out.u32(T_FLOAT32)
    const b = Buffer.alloc(4)
    b.writeFloatLE(value as number)
    out.push(b)
  } else if (type === "str") {
    out.u32(T_STRING)
    out.str(value as string)
  } else if (type === "str[]") {
    out.u32(T_ARRAY)
    out.u32(T_STRING)
    const a = value as ReadonlyArray<string>
    out.u64(a.length)
    for (const s of a) out.str(s)
  } else {
    out.u32(T_ARRAY)
    out.u32(T_INT32)
    const a = Int32Array.from(value as ReadonlyArray<number>)
    out.u64(a.length)
    out.push(Buffer.from(a.buffer))
  }
}

/** GPT-2's byte-to-unicode table: the 256 single-byte tokens of a byte-level BPE vocabulary. */
const byteTokens = (): Array<string> => {
  const keep: Array<number> = []
  for (let b = 33; b <= 126; b++) keep.push(b)
  for (let b = 161; b <= 172; b++) keep.push(b)
  for (let b = 174; b <= 255; b++) keep.push(b)
  const out: Array<string> = new Array(256)
  let n = 0
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + n++)
  return out
}

/** The bench vocabulary: 256 byte tokens, then "<tokN>" up to `size` (no merges: any text still encodes). */
export const benchVocabulary = (size: number): Array<string> => {
  const tokens = byteTokens()
  for (let i = tokens.length; i < size; i++) tokens.push(`<tok${i}>`)
  return tokens
}

/** The same vocabulary as a Hugging Face tokenizer.json (byte-level BPE), for the safetensors side. */
export const benchTokenizerJson = (size: number): object => ({
  version: "1.0",
  added_tokens: [],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(benchVocabulary(size).map((t, i) => [t, i])), merges: []
  }
})

/** Row g of a head-interleaved tensor holds Hugging Face row hfRow(g) (inverse of the loader's un-permute). */
const hfRow = (g: number, rows: number, heads: number): number => {
  const d = rows / heads
  const within = g % d
  return g - within + (within % 2) * (d / 2) + Math.floor(within / 2)
}

const interleaveHeads = (m: Matrix, rows: number, cols: number, heads: number): Float32Array => {
  const w = toF32(m)
  const out = new Float32Array(w.length)
  for (let g = 0; g < rows; g++) out.set(w.subarray(hfRow(g, rows, heads) * cols, (hfRow(g, rows, heads) + 1) * cols), g * cols)
  return out
}

interface OutTensor { name: string; dims: Array<number>; type: number; data: Buffer }

/** Writes `weights` (Hugging Face layout) as a llama-architecture GGUF with a byte-level tokenizer. */
export const writeLlamaGguf = (file: string, c: ModelConfig, w: ModelWeights, matrixType: "F16" | "F32"): void => {
  const H = c.hiddenSize
  const tensors: Array<OutTensor> = []
  const f32 = (name: string, a: Float32Array) =>
    tensors.push({ name, dims: [a.length], type: GGML_F32, data: Buffer.from(Float32Array.from(a).buffer) })
  const mat = (name: string, m: Matrix, cols: number) => {
    const a = toF32(m)
    const data = matrixType === "F16" ? Buffer.from(Float16Array.from(a).buffer) : Buffer.from(Float32Array.from(a).buffer)
    tensors.push({ name, dims: [cols, a.length / cols], type: matrixType === "F16" ? GGML_F16 : GGML_F32, data })
  }
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim
  mat("token_embd.weight", w.embed, H)
  w.layers.forEach((l, i) => {
    const p = `blk.${i}.`
    f32(`${p}attn_norm.weight`, l.inputNorm)
    mat(`${p}attn_q.weight`, interleaveHeads(l.q, qDim, H, c.numHeads), H)
    mat(`${p}attn_k.weight`, interleaveHeads(l.k, kvDim, H, c.numKvHeads), H)
    mat(`${p}attn_v.weight`, l.v, H)
    mat(`${p}attn_output.weight`, l.o, qDim)
    f32(`${p}ffn_norm.weight`, l.postNorm)
    mat(`${p}ffn_gate.weight`, l.gate, H)
    mat(`${p}ffn_up.weight`, l.up, H)
    mat(`${p}ffn_down.weight`, l.down, c.intermediateSize)
  })
  f32("output_norm.weight", w.norm)
  if (w.lmHead !== w.embed) mat("output.weight", w.lmHead, H)

  const tokens = benchVocabulary(c.vocabSize)
  const meta: Array<Meta> = [
    ["general.architecture", "str", "llama"],
    ["general.name", "str", "inferline-random"],
    ["general.file_type", "u32", matrixType === "F16" ? 1 : 0],
    ["general.alignment", "u32", ALIGN],
    ["llama.context_length", "u32", c.maxPositionEmbeddings],
    ["llama.embedding_length", "u32", H],
    ["llama.block_count", "u32", c.numLayers],
    ["llama.feed_forward_length", "u32", c.intermediateSize],
    ["llama.attention.head_count", "u32", c.numHeads],
    ["llama.attention.head_count_kv", "u32", c.numKvHeads],
    ["llama.rope.dimension_count", "u32", c.headDim],
    ["llama.attention.layer_norm_rms_epsilon", "f32", c.rmsNormEps],
    ["llama.rope.freq_base", "f32", c.ropeTheta],
    ["llama.vocab_size", "u32", c.vocabSize],
    ["tokenizer.ggml.model", "str", "gpt2"],
    ["tokenizer.ggml.pre", "str", "gpt-2"],
    ["tokenizer.ggml.tokens", "str[]", tokens],
    ["tokenizer.ggml.token_type", "i32[]", tokens.map(() => 1)],
    ["tokenizer.ggml.merges", "str[]", []],
    ["tokenizer.ggml.bos_token_id", "u32", 0],
    ["tokenizer.ggml.eos_token_id", "u32", 0]
  ]

  const head = new Bytes()
  head.push(Buffer.from("GGUF", "ascii"))
  head.u32(3)
  head.u64(tensors.length)
  head.u64(meta.length)
  for (const m of meta) writeMeta(head, m)
  let offset = 0
  const offsets: Array<number> = []
  for (const t of tensors) {
    offsets.push(offset)
    offset += Math.ceil(t.data.length / ALIGN) * ALIGN
  }
  tensors.forEach((t, i) => {
    head.str(t.name)
    head.u32(t.dims.length)
    for (const d of t.dims) head.u64(d)
    head.u32(t.type)
    head.u64(offsets[i])
  })
  const fd = fs.openSync(file, "w")
  try {
    fs.writeSync(fd, head.concat())
    fs.writeSync(fd, Buffer.alloc((ALIGN - (head.length % ALIGN)) % ALIGN))
    for (const t of tensors) {
      fs.writeSync(fd, t.data)
      fs.writeSync(fd, Buffer.alloc((ALIGN - (t.data.length % ALIGN)) % ALIGN))
    }
  } finally {
    fs.closeSync(fd)
  }
}
