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

/** Chunk size for converting a tensor between precisions: bounded so that a large tensor never exists twice in memory. */
const CHUNK_BYTES = 1 << 22

/** The typed array the file's bytes can be copied into as they are (same element type as the tensor's dtype). */
const storesAsIs = (dtype: SafetensorsDtype, dst: DenseMatrix): boolean =>
  (dtype === "F32" && dst instanceof Float32Array) || (dtype === "BF16" && dst instanceof Uint16Array) || (dtype === "F16" && dst instanceof Float16Array)

/**
 * Reads the tensors of one load: each file opened once, and one scratch chunk for every conversion, so
 * a load leaves no garbage the size of its tensors behind (freed 4 MiB chunks, one per tensor, stayed
 * resident in the allocator's heap: the server's RSS counted them next to the weights).
 */
export class TensorReader {
  private readonly fds = new Map<string, number>()
  private scratch: Buffer | null = null
  private values: Float32Array | null = null

  /**
   * Reads one tensor into `dst`. When dst has the tensor's own type the file's bytes go straight into
   * dst's memory (no copy in between); otherwise it converts on the fly (f32 exactly from F16/BF16; to
   * bf16 or f16 rounding to nearest even), streaming in bounded chunks. `dst` is typically in the SIMD
   * kernels' shared WebAssembly memory, or a SharedArrayBuffer, so that executor workers can read it.
   */
  read(t: TensorInfo, dst: DenseMatrix): void {
    const count = t.byteLength / BYTES[t.dtype]
    if (dst.length !== count) throw new ModelLoadError(t.file, `tensor "${t.name}": destination holds ${dst.length} values, tensor has ${count}`)
    const fd = this.fdOf(t.file)
    if (storesAsIs(t.dtype, dst)) return this.readBytes(fd, t, new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength), 0, t.byteLength)
    const chunk = this.scratchOf(Math.min(CHUNK_BYTES, t.byteLength))
    for (let done = 0; done < t.byteLength;) {
      const n = Math.min(chunk.length, t.byteLength - done)
      this.readBytes(fd, t, chunk, done, n)
      decodeInto(t.dtype, chunk, n, dst, done / BYTES[t.dtype], () => this.valuesOf(n / BYTES[t.dtype]))
      done += n
    }
  }

  /** Closes the files; the scratch chunks go with the reader. */
  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd)
    this.fds.clear()
    this.scratch = null
    this.values = null
  }

  /**
   * At least `n` bytes of scratch: sized by the tensors converted so far (norms of a 16-bit checkpoint need a
   * few KB; a whole chunk only when --dtype converts matrices), so a load does not leave a large freed block
   * behind in the allocator for nothing.
   */
  private scratchOf(n: number): Buffer {
    if (this.scratch === null || this.scratch.length < n) this.scratch = Buffer.allocUnsafeSlow(n)
    return this.scratch
  }

  /** f32 scratch of at least `n` values, for conversions rounding to 16 bits. */
  private valuesOf(n: number): Float32Array {
    if (this.values === null || this.values.length < n) this.values = new Float32Array(n)
    return this.values
  }

  private fdOf(file: string): number {
    let fd = this.fds.get(file)
    if (fd === undefined) this.fds.set(file, (fd = openOrFail(file)))
    return fd
  }

  /** Bytes [from, from + n) of the tensor's data into `into` at 0 (a read may return less than asked: loop). */
  private readBytes(fd: number, t: TensorInfo, into: Uint8Array, from: number, n: number): void {
    for (let got = 0; got < n;) {
      const r = fs.readSync(fd, into, got, n - got, t.offset + from + got)
      if (r <= 0) throw new ModelLoadError(t.file, `tensor "${t.name}": unexpected end of file`)
      got += r
    }
  }
}

/** Reads one tensor into `dst` (see TensorReader.read); for several, one TensorReader shares files and scratch. */
export const readTensorInto = (t: TensorInfo, dst: DenseMatrix): void => {
  const reader = new TensorReader()
  try {
    reader.read(t, dst)
  } finally {
    reader.close()
  }
}

/** Chunk `src` (n bytes of `dtype`) into dst from value `at`, through `values` (f32 scratch) when rounding to 16 bits. */
const decodeInto = (dtype: SafetensorsDtype, src: Buffer, n: number, dst: DenseMatrix, at: number, values: () => Float32Array): void => {
  if (dst instanceof Float32Array) return decodeF32(dtype, src, n, dst, at)
  // A conversion between precisions (--dtype): through exact f32 values, then rounded.
  const count = n / BYTES[dtype]
  const f32 = values().subarray(0, count)
  decodeF32(dtype, src, n, f32, 0)
  if (dst instanceof Float16Array) return dst.set(f32, at) // Float16Array stores round to nearest even
  for (let i = 0; i < count; i++) dst[at + i] = toBf16Bits(f32[i])
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
