import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { ModelWeights } from "../../src/engine/weights.ts"
import { matrixElements, toF32, type Matrix } from "../../src/engine/matrix.ts"

export type Dtype = "F32" | "F16" | "BF16"

export interface NamedTensor {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

const encode = (dtype: Dtype, data: Float32Array): Uint8Array => {
  if (dtype === "F32") return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
  if (dtype === "F16") return new Uint8Array(Float16Array.from(data).buffer)
  // BF16: round-to-nearest-even of the upper 16 bits, as torch does.
  const u32 = new Uint32Array(Float32Array.from(data).buffer)
  const out = new Uint16Array(u32.length)
  for (let i = 0; i < u32.length; i++) {
    const x = u32[i]
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16
  }
  return new Uint8Array(out.buffer)
}

/** Writes one .safetensors file (test-side writer; the runtime only reads). */
export const writeSafetensors = (file: string, tensors: ReadonlyArray<NamedTensor>, dtype: Dtype): void => {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } }
  const blobs: Array<Uint8Array> = []
  let offset = 0
  for (const t of tensors) {
    const bytes = encode(dtype, t.data)
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] }
    blobs.push(bytes)
    offset += bytes.length
  }
  let json = JSON.stringify(header)
  json += " ".repeat((8 - (json.length % 8)) % 8)
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...blobs]))
}

/** The Hugging Face tensor names and shapes of a model's weights. */
export const hfTensors = (w: ModelWeights, rawConfig: Record<string, unknown>): Array<NamedTensor> => {
  const h = rawConfig.hidden_size as number
  const out: Array<NamedTensor> = [{ name: "model.embed_tokens.weight", shape: [matrixElements(w.embed) / h, h], data: toF32(w.embed) }]
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`
    const lin = (name: string, m: Matrix, inDim: number) => out.push({ name: p + name, shape: [matrixElements(m) / inDim, inDim], data: toF32(m) })
    const vec = (name: string, data: Float32Array | null) => data && out.push({ name: p + name, shape: [data.length], data })
    vec("input_layernorm.weight", l.inputNorm)
    lin("self_attn.q_proj.weight", l.q, h)
    lin("self_attn.k_proj.weight", l.k, h)
    lin("self_attn.v_proj.weight", l.v, h)
    lin("self_attn.o_proj.weight", l.o, matrixElements(l.q) / h)
    vec("self_attn.q_proj.bias", l.qBias)
    vec("self_attn.k_proj.bias", l.kBias)
    vec("self_attn.v_proj.bias", l.vBias)
    vec("self_attn.o_proj.bias", l.oBias)
    vec("post_attention_layernorm.weight", l.postNorm)
    lin("mlp.gate_proj.weight", l.gate, h)
    lin("mlp.up_proj.weight", l.up, h)
    lin("mlp.down_proj.weight", l.down, matrixElements(l.gate) / h)
  })
  out.push({ name: "model.norm.weight", shape: [h], data: w.norm })
  if (w.lmHead !== w.embed) out.push({ name: "lm_head.weight", shape: [matrixElements(w.lmHead) / h, h], data: toF32(w.lmHead) })
  return out
}

/** Writes a complete model directory (config.json + weights, optionally sharded) into a fresh temp dir. */
export const writeCheckpoint = (
  rawConfig: Record<string, unknown>,
  tensors: ReadonlyArray<NamedTensor>,
  options: { dtype?: Dtype; shards?: number } = {}
): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-ckpt-"))
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(rawConfig))
  const dtype = options.dtype ?? "F32"
  const shards = options.shards ?? 1
  if (shards === 1) {
    writeSafetensors(path.join(dir, "model.safetensors"), tensors, dtype)
    return dir
  }
  const weightMap: Record<string, string> = {}
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`
    const part = tensors.filter((_, i) => i % shards === s)
    part.forEach((t) => (weightMap[t.name] = file))
    writeSafetensors(path.join(dir, file), part, dtype)
  }
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }))
  return dir
}
