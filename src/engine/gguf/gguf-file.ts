import * as fs from "node:fs"
import { ModelLoadError } from "../errors.ts"
import { FileCursor } from "./file-cursor.ts"
import { ggmlTypeName, rowBytes, tensorTypeById, type TensorType } from "./ggml-types.ts"

/**
 * GGUF v2/v3 header reader (gguf.h): magic, version, tensor and metadata counts, metadata key/values of
 * every value type, tensor infos; the data section starts at the next multiple of general.alignment.
 * Only the header is read here; tensor data is read tensor by tensor (readTensorRange).
 */

/** gguf_type: the type of a metadata value. */
export const GgufValueType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12
} as const

export type GgufArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array | ReadonlyArray<boolean> | ReadonlyArray<string> | ReadonlyArray<GgufArray>

/** A metadata value. 64-bit integers are numbers when exact, bigints otherwise. */
export type GgufValue = number | bigint | boolean | string | GgufArray

export interface GgufTensorInfo {
  readonly name: string
  /** ggml order: dims[0] is the row length (the innermost, contiguous dimension). */
  readonly dims: ReadonlyArray<number>
  readonly typeId: number
  /** The type when Inferline can read it; null otherwise (an error only if the model needs the tensor). */
  readonly type: TensorType | null
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number
  /** Bytes of data (known for supported types). */
  readonly byteLength: number
  readonly elements: number
}

export interface GgufFile {
  readonly file: string
  readonly version: number
  readonly metadata: ReadonlyMap<string, GgufValue>
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>
  readonly alignment: number
  readonly dataOffset: number
  readonly size: number
}

const GGML_MAX_DIMS = 4
const DEFAULT_ALIGNMENT = 32

const TYPED_ARRAYS = {
  [GgufValueType.UINT8]: [Uint8Array, 1], [GgufValueType.INT8]: [Int8Array, 1],
  [GgufValueType.UINT16]: [Uint16Array, 2], [GgufValueType.INT16]: [Int16Array, 2],
  [GgufValueType.UINT32]: [Uint32Array, 4], [GgufValueType.INT32]: [Int32Array, 4],
  [GgufValueType.FLOAT32]: [Float32Array, 4], [GgufValueType.FLOAT64]: [Float64Array, 8],
  [GgufValueType.UINT64]: [BigUint64Array, 8], [GgufValueType.INT64]: [BigInt64Array, 8]
} as const

const exact64 = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v)

const readScalar = (c: FileCursor, type: number, what: string): GgufValue => {
  switch (type) {
    case GgufValueType.UINT8: return c.u8(what)
    case GgufValueType.INT8: return c.i8(what)
    case GgufValueType.UINT16: return c.u16(what)
    case GgufValueType.INT16: return c.i16(what)
    case GgufValueType.UINT32: return c.u32(what)
    case GgufValueType.INT32: return c.i32(what)
    case GgufValueType.FLOAT32: return c.f32(what)
    case GgufValueType.FLOAT64: return c.f64(what)
    case GgufValueType.UINT64: return exact64(c.u64(what))
    case GgufValueType.INT64: return exact64(c.i64(what))
    case GgufValueType.BOOL: {
      const b = c.u8(what)
      if (b > 1) c.fail(`${what}: bool byte is ${b}, expected 0 or 1: corrupt GGUF`)
      return b === 1
    }
    case GgufValueType.STRING: return c.string(what)
    case GgufValueType.ARRAY: return readArray(c, what)
    default: return c.fail(`${what} has value type ${type}, which GGUF does not define (0-12): corrupt GGUF`)
  }
}

function readArray(c: FileCursor, what: string): GgufArray {
  const itemType = c.u32(`item type of ${what}`)
  if (itemType in TYPED_ARRAYS) {
    const [Ctor, size] = TYPED_ARRAYS[itemType as keyof typeof TYPED_ARRAYS]
    const n = c.count(`length of ${what}`, size)
    // A copy into fresh (aligned) memory, read as little-endian like the rest of the file.
    return new Ctor(c.bytes(n * size, what).buffer as ArrayBuffer)
  }
  if (itemType === GgufValueType.BOOL || itemType === GgufValueType.STRING || itemType === GgufValueType.ARRAY) {
    const n = c.count(`length of ${what}`, itemType === GgufValueType.BOOL ? 1 : 8)
    const out: Array<GgufValue> = []
    for (let i = 0; i < n; i++) out.push(readScalar(c, itemType, `${what}[${i}]`))
    return out as GgufArray
  }
  return c.fail(`${what} is an array of value type ${itemType}, which GGUF does not define (0-12): corrupt GGUF`)
}

const readMetadata = (c: FileCursor, count: number): Map<string, GgufValue> => {
  const metadata = new Map<string, GgufValue>()
  for (let i = 0; i < count; i++) {
    const key = c.string(`key of metadata entry ${i}`)
    if (metadata.has(key)) c.fail(`metadata key "${key}" appears twice: corrupt GGUF`)
    const type = c.u32(`value type of "${key}"`)
    metadata.set(key, readScalar(c, type, `metadata "${key}"`))
  }
  return metadata
}

const alignmentOf = (c: FileCursor, metadata: ReadonlyMap<string, GgufValue>): number => {
  const a = metadata.get("general.alignment")
  if (a === undefined) return DEFAULT_ALIGNMENT
  if (typeof a !== "number" || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
    c.fail(`general.alignment must be a power of two, got ${String(a)}`)
  }
  return a
}

interface RawTensorInfo { name: string; dims: Array<number>; typeId: number; relOffset: bigint }

const readTensorInfo = (c: FileCursor, index: number): RawTensorInfo => {
  const name = c.string(`name of tensor ${index}`)
  const nDims = c.u32(`dimension count of tensor "${name}"`)
  if (nDims < 1 || nDims > GGML_MAX_DIMS) c.fail(`tensor "${name}" has ${nDims} dimensions; GGUF allows 1 to ${GGML_MAX_DIMS}`)
  const dims: Array<number> = []
  let elements = 1n
  for (let d = 0; d < nDims; d++) {
    const n = c.i64(`dimension ${d} of tensor "${name}"`)
    if (n < 0n) c.fail(`tensor "${name}" has negative dimension ${n}: corrupt GGUF`)
    elements *= n
    dims.push(Number(n))
  }
  if (elements > BigInt(Number.MAX_SAFE_INTEGER)) c.fail(`tensor "${name}" has ${elements} elements, more than can be addressed`)
  const typeId = c.u32(`type of tensor "${name}"`)
  const relOffset = c.u64(`data offset of tensor "${name}"`)
  return { name, dims, typeId, relOffset }
}

const locateTensor = (c: FileCursor, t: RawTensorInfo, dataOffset: number, alignment: number): GgufTensorInfo => {
  const type = tensorTypeById(t.typeId) ?? null
  const elements = t.dims.reduce((a, b) => a * b, 1)
  if (t.relOffset % BigInt(alignment) !== 0n) {
    c.fail(`tensor "${t.name}" data offset ${t.relOffset} is not a multiple of the alignment ${alignment}: corrupt GGUF`)
  }
  const offset = dataOffset + Number(t.relOffset)
  let byteLength = 0
  if (type !== null) {
    const row = rowBytes(type, t.dims[0])
    if (row === null) c.fail(`tensor "${t.name}" of type ${type} has rows of ${t.dims[0]} values, not a whole number of blocks`)
    byteLength = row * (elements / t.dims[0] || 0)
    if (t.relOffset > BigInt(c.size) || offset + byteLength > c.size) {
      c.fail(`tensor "${t.name}" (${type}, ${byteLength} bytes at byte ${offset}) runs past the end of the file (${c.size} bytes): truncated GGUF`)
    }
  }
  return { name: t.name, dims: t.dims, typeId: t.typeId, type, offset, byteLength, elements }
}

/** Reads and validates the header of a GGUF file. */
export const readGgufHeader = (file: string): GgufFile => {
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch (e) {
    throw new ModelLoadError(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  try {
    const c = new FileCursor(file, fd)
    const magic = c.size >= 4 ? c.bytes(4, "magic") : c.fail(`${c.size} bytes is too short for a GGUF file`)
    if (Buffer.from(magic).toString("latin1") !== "GGUF") c.fail(`not a GGUF file (magic ${JSON.stringify(Buffer.from(magic).toString("latin1"))}, expected "GGUF")`)
    const version = c.u32("version")
    if (version !== 2 && version !== 3) {
      c.fail(`GGUF version ${version} is not supported (supported: 2, 3${version > 0xffff ? "; a big-endian file?" : ""})`)
    }
    const tensorCount = c.count("tensor count", 8 + 4 + 8 + 4 + 8)
    const kvCount = c.count("metadata count", 8 + 4 + 1)
    const metadata = readMetadata(c, kvCount)
    const alignment = alignmentOf(c, metadata)
    const raw: Array<RawTensorInfo> = []
    const names = new Set<string>()
    for (let i = 0; i < tensorCount; i++) {
      const t = readTensorInfo(c, i)
      if (names.has(t.name)) c.fail(`tensor "${t.name}" appears twice: corrupt GGUF`)
      names.add(t.name)
      raw.push(t)
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment
    if (tensorCount > 0) c.skipTo(dataOffset, "the tensor data")
    const tensors = new Map(raw.map((t) => [t.name, locateTensor(c, t, dataOffset, alignment)]))
    return { file, version, metadata, tensors, alignment, dataOffset, size: c.size }
  } finally {
    fs.closeSync(fd)
  }
}

/** Reads `length` bytes of a tensor's data starting `start` bytes into it. */
export const readTensorRange = (fd: number, g: GgufFile, t: GgufTensorInfo, start: number, length: number, into: Uint8Array): void => {
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, into, done, length - done, t.offset + start + done)
    if (n <= 0) throw new ModelLoadError(g.file, `tensor "${t.name}": file ends while reading its data (truncated GGUF)`)
    done += n
  }
}

/** ggml's name for a tensor's type, for messages. */
export const tensorTypeName = (t: GgufTensorInfo): string => t.type ?? ggmlTypeName(t.typeId)
