import * as fs from "node:fs"
import { GgufValueType as T } from "../../src/engine/gguf/gguf-file.ts"
import { prng } from "./random-model.ts"

/** Test-side GGUF writer (the runtime only reads): hand-made files for the reader's edge cases. */

export type MetaValue =
  | { readonly type: number; readonly value: unknown }
  | { readonly type: typeof T.ARRAY; readonly itemType: number; readonly value: ReadonlyArray<unknown> }

export interface TensorSpec {
  readonly name: string
  /** ggml order: row length first. */
  readonly dims: ReadonlyArray<number>
  readonly typeId: number
  readonly data: Uint8Array
  /** Overrides the offset the writer would compute (for corrupt-file tests). */
  readonly offset?: bigint
}

export interface GgufSpec {
  readonly version?: number
  readonly metadata: ReadonlyArray<readonly [string, MetaValue]>
  readonly tensors?: ReadonlyArray<TensorSpec>
  readonly alignment?: number
}

class Bytes {
  private chunks: Array<Uint8Array> = []
  length = 0
  push(b: Uint8Array): void {
    this.chunks.push(b)
    this.length += b.length
  }
  u32(v: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(v)
    this.push(b)
  }
  u64(v: bigint | number): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(v))
    this.push(b)
  }
  i64(v: bigint | number): void {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(BigInt(v))
    this.push(b)
  }
  string(s: string): void {
    const b = Buffer.from(s, "utf8")
    this.u64(b.length)
    this.push(b)
  }
  pad(align: number): void {
    this.push(new Uint8Array((align - (this.length % align)) % align))
  }
  concat(): Uint8Array {
    return Buffer.concat(this.chunks)
  }
}

const scalar = (out: Bytes, type: number, v: unknown): void => {
  const b = Buffer.alloc(8)
  switch (type) {
    case T.UINT8: b.writeUInt8(v as number); return out.push(b.subarray(0, 1))
    case T.INT8: b.writeInt8(v as number); return out.push(b.subarray(0, 1))
    case T.BOOL: b.writeUInt8(typeof v === "number" ? v : v ? 1 : 0); return out.push(b.subarray(0, 1))
    case T.UINT16: b.writeUInt16LE(v as number); return out.push(b.subarray(0, 2))
    case T.INT16: b.writeInt16LE(v as number); return out.push(b.subarray(0, 2))
    case T.UINT32: b.writeUInt32LE(v as number); return out.push(b.subarray(0, 4))
    case T.INT32: b.writeInt32LE(v as number); return out.push(b.subarray(0, 4))
    case T.FLOAT32: b.writeFloatLE(v as number); return out.push(b.subarray(0, 4))
    case T.FLOAT64: b.writeDoubleLE(v as number); return out.push(b)
    case T.UINT64: return out.u64(v as bigint)
    case T.INT64: return out.i64(v as bigint)
    case T.STRING: return out.string(v as string)
    default:
      // raw bytes for value types GGUF does not define (corrupt-file tests)
      if (v instanceof Uint8Array) return out.push(v)
      throw new Error(`test writer: no scalar encoding for type ${type}`)
  }
}

const value = (out: Bytes, v: MetaValue): void => {
  if (v.type === T.ARRAY && "itemType" in v) {
    out.u32(v.itemType)
    out.u64(v.value.length)
    for (const item of v.value) value(out, v.itemType === T.ARRAY ? (item as MetaValue) : { type: v.itemType, value: item })
    return
  }
  scalar(out, v.type, v.value)
}

/** The bytes of a GGUF file. Tensors are laid out in order, each padded to the alignment, as ggml writes. */
export const encodeGguf = (spec: GgufSpec): Uint8Array => {
  const align = spec.alignment ?? 32
  const out = new Bytes()
  out.push(Buffer.from("GGUF", "latin1"))
  out.u32(spec.version ?? 3)
  const tensors = spec.tensors ?? []
  out.u64(tensors.length)
  out.u64(spec.metadata.length)
  for (const [key, v] of spec.metadata) {
    out.string(key)
    out.u32(v.type)
    value(out, v)
  }
  let offset = 0n
  for (const t of tensors) {
    out.string(t.name)
    out.u32(t.dims.length)
    for (const d of t.dims) out.i64(d)
    out.u32(t.typeId)
    out.u64(t.offset ?? offset)
    offset += BigInt(Math.ceil(t.data.length / align) * align)
  }
  if (tensors.length > 0) out.pad(align)
  for (const t of tensors) {
    out.push(t.data)
    out.pad(align)
  }
  return out.concat()
}

export const writeGguf = (file: string, spec: GgufSpec): string => {
  fs.writeFileSync(file, encodeGguf(spec))
  return file
}

export const u32 = (value: number): MetaValue => ({ type: T.UINT32, value })
export const f32 = (value: number): MetaValue => ({ type: T.FLOAT32, value })
export const str = (value: string): MetaValue => ({ type: T.STRING, value })
export const bool = (value: boolean): MetaValue => ({ type: T.BOOL, value })
export const arr = (itemType: number, value: ReadonlyArray<unknown>): MetaValue => ({ type: T.ARRAY, itemType, value })

export const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))

/**
 * A tiny llama-architecture GGUF (hidden 32, 2 heads of 16, 1 kv head, 1 layer, ffn 64, vocab 16) with F32
 * weights; `edit` may change metadata and tensors before writing.
 */
export const tinyLlamaSpec = (seed = 1): { metadata: Array<readonly [string, MetaValue]>; tensors: Array<TensorSpec> } => {
  const rand = prng(seed)
  const t = (name: string, dims: ReadonlyArray<number>, center = 0): TensorSpec => {
    const a = new Float32Array(dims.reduce((x, y) => x * y, 1))
    for (let i = 0; i < a.length; i++) a[i] = center + (rand() * 2 - 1) * 0.2
    return { name, dims, typeId: 0, data: f32Bytes(a) }
  }
  return {
    metadata: [
      ["general.architecture", str("llama")],
      ["llama.block_count", u32(1)],
      ["llama.context_length", u32(128)],
      ["llama.embedding_length", u32(32)],
      ["llama.feed_forward_length", u32(64)],
      ["llama.attention.head_count", u32(2)],
      ["llama.attention.head_count_kv", u32(1)],
      ["llama.rope.freq_base", f32(10000)],
      ["llama.attention.layer_norm_rms_epsilon", f32(1e-5)]
    ],
    tensors: [
      t("token_embd.weight", [32, 16]),
      t("blk.0.attn_norm.weight", [32], 1),
      t("blk.0.attn_q.weight", [32, 32]),
      t("blk.0.attn_k.weight", [32, 16]),
      t("blk.0.attn_v.weight", [32, 16]),
      t("blk.0.attn_output.weight", [32, 32]),
      t("blk.0.ffn_norm.weight", [32], 1),
      t("blk.0.ffn_gate.weight", [32, 64]),
      t("blk.0.ffn_up.weight", [32, 64]),
      t("blk.0.ffn_down.weight", [64, 32]),
      t("output_norm.weight", [32], 1)
    ]
  }
}
