import * as fs from "node:fs"
import * as path from "node:path"
import { ModelLoadError } from "./errors.ts"
import { toBf16Bits, type DenseMatrix } from "./matrix.ts"

export type SafetensorsDtype = "F32" | "F16" | "BF16"
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 }

export interface TensorInfo {
  readonly name: string
  readonly file: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** Absolute byte offset of the tensor's data in `file`. */
  readonly offset: number
  readonly byteLength: number
}

/** Reads the JSON header of one `.safetensors` file (8-byte little-endian length, then JSON). */
export const readSafetensorsHeader = (file: string): Array<TensorInfo> => {
  const fd = openOrFail(file)
  try {
    const size = fs.fstatSync(fd).size
    const lenBuf = Buffer.alloc(8)
    if (size < 8 || fs.readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new ModelLoadError(file, "file too short for a safetensors header")
    const headerLen = Number(lenBuf.readBigUInt64LE(0))
    if (headerLen <= 0 || 8 + headerLen > size) throw new ModelLoadError(file, `header length ${headerLen} exceeds file size ${size}`)
    const headerBuf = Buffer.alloc(headerLen)
    fs.readSync(fd, headerBuf, 0, headerLen, 8)
    let header: Record<string, unknown>
    try {
      header = JSON.parse(headerBuf.toString("utf8"))
    } catch (e) {
      throw new ModelLoadError(file, `header is not valid JSON (${(e as Error).message})`)
    }
    const dataStart = 8 + headerLen
    const out: Array<TensorInfo> = []
    for (const [name, meta] of Object.entries(header)) {
      if (name === "__metadata__") continue
      const m = meta as { dtype?: string; shape?: Array<number>; data_offsets?: [number, number] }
      if (m.dtype !== "F32" && m.dtype !== "F16" && m.dtype !== "BF16") {
        throw new ModelLoadError(file, `tensor "${name}" has dtype ${m.dtype}; supported: F32, F16, BF16`)
      }
      const shape = m.shape ?? []
      const [begin, end] = m.data_offsets ?? [0, 0]
      const count = shape.reduce((a, b) => a * b, 1)
      if (end - begin !== count * BYTES[m.dtype]) {
        throw new ModelLoadError(file, `tensor "${name}" shape [${shape.join(", ")}] ${m.dtype} needs ${count * BYTES[m.dtype]} bytes, offsets give ${end - begin}`)
      }
      if (dataStart + end > size) throw new ModelLoadError(file, `tensor "${name}" data runs past the end of the file`)
      out.push({ name, file, dtype: m.dtype, shape, offset: dataStart + begin, byteLength: end - begin })
    }
    return out
  } finally {
    fs.closeSync(fd)
  }
}

const openOrFail = (file: string): number => {
  try {
    return fs.openSync(file, "r")
  } catch (e) {
    throw new ModelLoadError(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

/**
 * Lists every tensor of a model directory: `model.safetensors`, or the shards named by
 * `model.safetensors.index.json`.
 */
export const listModelTensors = (dir: string): Map<string, TensorInfo> => {
  const single = path.join(dir, "model.safetensors")
  const index = path.join(dir, "model.safetensors.index.json")
  let files: Array<string>
  if (fs.existsSync(single)) files = [single]
  else if (fs.existsSync(index)) {
    const weightMap = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map
    if (!weightMap) throw new ModelLoadError(index, `missing "weight_map"`)
    files = [...new Set(Object.values(weightMap))].map((f) => path.join(dir, f))
  } else {
    throw new ModelLoadError(dir, "no model.safetensors or model.safetensors.index.json")
  }
  const all = new Map<string, TensorInfo>()
  for (const f of files) for (const t of readSafetensorsHeader(f)) all.set(t.name, t)
  return all
}

/** Chunk size for streaming a tensor from disk: bounded so that a large tensor never exists twice in memory. */
const CHUNK_BYTES = 1 << 22

/**
 * Reads one tensor into `dst`, converting on the fly to dst's type (a plain copy when the types agree;
 * f32 exactly from F16/BF16; to bf16 or f16 rounding to nearest even), streaming in bounded chunks.
 * `dst` is typically backed by a SharedArrayBuffer so that executor workers can read the weights.
 */
export const readTensorInto = (t: TensorInfo, dst: DenseMatrix): void => {
  const count = t.byteLength / BYTES[t.dtype]
  if (dst.length !== count) throw new ModelLoadError(t.file, `tensor "${t.name}": destination holds ${dst.length} values, tensor has ${count}`)
  const fd = openOrFail(t.file)
  try {
    const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, t.byteLength))
    let done = 0 // bytes read
    while (done < t.byteLength) {
      const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, t.byteLength - done), t.offset + done)
      if (n <= 0) throw new ModelLoadError(t.file, `tensor "${t.name}": unexpected end of file`)
      decodeInto(t.dtype, chunk, n, dst, done / BYTES[t.dtype])
      done += n
    }
  } finally {
    fs.closeSync(fd)
  }
}

const decodeInto = (dtype: SafetensorsDtype, src: Buffer, n: number, dst: DenseMatrix, at: number): void => {
  const count = n / BYTES[dtype]
  if (dst instanceof Float32Array) return decodeF32(dtype, src, n, dst, at)
  if (dtype === "BF16" && dst instanceof Uint16Array) return dst.set(new Uint16Array(src.buffer, src.byteOffset, count), at)
  if (dtype === "F16" && dst instanceof Float16Array) return dst.set(new Float16Array(src.buffer, src.byteOffset, count), at)
  // A conversion between precisions (--dtype): through exact f32 values, then rounded.
  const values = new Float32Array(count)
  decodeF32(dtype, src, n, values, 0)
  if (dst instanceof Float16Array) return dst.set(values, at) // Float16Array stores round to nearest even
  for (let i = 0; i < count; i++) dst[at + i] = toBf16Bits(values[i])
}

const decodeF32 = (dtype: SafetensorsDtype, src: Buffer, n: number, dst: Float32Array, at: number): void => {
  const aligned = src.byteOffset % 4 === 0
  switch (dtype) {
    case "F32": {
      const view = aligned ? new Float32Array(src.buffer, src.byteOffset, n / 4) : new Float32Array(Uint8Array.prototype.slice.call(src, 0, n).buffer)
      dst.set(view, at)
      return
    }
    case "F16": {
      const view = new Float16Array(src.buffer, src.byteOffset, n / 2)
      for (let i = 0; i < view.length; i++) dst[at + i] = view[i]
      return
    }
    case "BF16": {
      // bf16 is the upper half of an f32: shift it into place through an integer view.
      const u16 = new Uint16Array(src.buffer, src.byteOffset, n / 2)
      const u32 = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, u16.length)
      for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16
      return
    }
  }
}
