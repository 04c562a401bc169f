/**
 * Tensor memory inside one shared WebAssembly.Memory, so that the WASM kernels can address weights and
 * activations directly and worker threads share them without copies. A bump allocator whose top pointer
 * lives in the memory itself (updated with Atomics), so every thread attached to the memory allocates
 * from it safely. Nothing is freed: weights live as long as the model, and workspaces only grow.
 *
 * A wasm32 memory holds at most 4 GiB. The main memory keeps the KV cache, the workspaces and as many
 * weights as fit beside them (`keepFree` bytes stay for the former); larger weight matrices beyond that
 * go to further memories ("weight memories", 3.5 GiB of weights each, the rest kept for the staging
 * copies of the rows a matmul reads and writes there: weight-staging.ts). So a model with more than
 * 4 GiB of weights loads, as far as the machine has the memory.
 */
import { isQuantized, type Matrix, type MatrixAlloc } from "../matrix.ts"

const PAGE = 65536
const MAX_PAGES = 65536 // 4 GiB: the wasm32 limit
const MEMORY_BYTES = MAX_PAGES * PAGE
const HEADER = 64 // bytes [0, 4): the bump pointer; the rest keeps address 0 unused (0 means "no bias")
/** Weight bytes one weight memory takes; the rest of its 4 GiB is for staging rows. */
const WEIGHT_MEMORY_WEIGHTS = 3.5 * 2 ** 30
/** Tensors smaller than this (norms, biases) always stay in the main memory, where the element-wise kernels read them. */
const SMALL_TENSOR_BYTES = 128 * 1024
/** Room the workspaces (activations of the largest step, logits, scratch) get in the main memory beside the KV cache. */
export const WORKSPACE_RESERVE_BYTES = 512 * 2 ** 20

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`

export class WasmArena {
  readonly memory: WebAssembly.Memory
  /** The weight memories (index k - 1 holds the tensors whose place is k); empty in a weight memory itself. */
  readonly weightArenas: Array<WasmArena>
  /** Bytes of the main memory that weights leave free (for the KV cache and the workspaces). */
  private readonly keepFree: number
  /** Every SharedArrayBuffer object this thread has seen for the memory (a grow yields a new object). */
  private readonly buffers = new WeakSet<ArrayBufferLike>()
  private current: SharedArrayBuffer

  private constructor(memory: WebAssembly.Memory, weightArenas: Array<WasmArena>, keepFree: number) {
    this.memory = memory
    this.weightArenas = weightArenas
    this.keepFree = keepFree
    this.current = this.refresh()
  }

  /**
   * A new arena with room for at least `bytes` before it has to grow; weights leave `keepFree` bytes of
   * it for the KV cache and workspaces (the rest spills to weight memories).
   */
  static create(bytes = PAGE, keepFree = 2 ** 30): WasmArena {
    const pages = Math.max(1, Math.ceil((bytes + HEADER) / PAGE))
    const arena = new WasmArena(new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true }), [], keepFree)
    Atomics.store(new Uint32Array(arena.current, 0, 1), 0, HEADER)
    return arena
  }

  /** The same arena seen from another thread (the memories arrive through postMessage/workerData). */
  static attach(memory: WebAssembly.Memory, weightMemories: ReadonlyArray<WebAssembly.Memory> = []): WasmArena {
    return new WasmArena(memory, weightMemories.map((m) => new WasmArena(m, [], 0)), 0)
  }

  get weightMemories(): ReadonlyArray<WebAssembly.Memory> {
    return this.weightArenas.map((a) => a.memory)
  }

  private refresh(): SharedArrayBuffer {
    const b = this.memory.buffer as unknown as SharedArrayBuffer
    this.buffers.add(b)
    this.current = b
    return b
  }

  allocF32(n: number): Float32Array {
    const offset = this.allocBytes(n * 4)
    return new Float32Array(this.refresh(), offset, n)
  }

  /** Int32 scratch (slot lists, job descriptors). */
  allocI32(n: number): Int32Array {
    const offset = this.allocBytes(n * 4)
    return new Int32Array(this.refresh(), offset, n)
  }

  /** f16 storage (weights kept at checkpoint precision). */
  allocF16(n: number): Float16Array {
    const offset = this.allocBytes(n * 2)
    return new Float16Array(this.refresh(), offset, n)
  }

  /** bf16 bit patterns (weights kept at checkpoint precision). */
  allocBf16(n: number): Uint16Array {
    const offset = this.allocBytes(n * 2)
    return new Uint16Array(this.refresh(), offset, n)
  }

  /** Raw bytes (quantized weight blocks, kept as stored). */
  allocU8(n: number): Uint8Array {
    const offset = this.allocBytes(n)
    return new Uint8Array(this.refresh(), offset, n)
  }

  /** Byte offset of a fresh zeroed region; the memory grows as needed (refresh views afterwards). */
  private allocBytes(size: number): number {
    const bytes = Math.ceil(size / 16) * 16 // 16-byte aligned for v128 loads
    const offset = Atomics.add(new Uint32Array(this.current, 0, 1), 0, bytes)
    const end = offset + bytes
    if (end > MEMORY_BYTES) {
      throw new RangeError(`a tensor memory holds at most 4 GiB (wasm32): ${gib(offset)} are in use and ${gib(bytes)} more were requested; lower --kv-cache-memory or --max-num-batched-tokens`)
    }
    const have = this.memory.buffer.byteLength
    try {
      if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE))
    } catch (e) {
      throw new RangeError(`could not grow a tensor memory from ${gib(have)} to ${gib(end)} (${(e as Error).message}); the model's weights, KV cache and workspaces need more memory than this machine gives the process`)
    }
    return offset
  }

  owns(a: ArrayBufferView): boolean {
    return this.buffers.has(a.buffer)
  }

  /** Which memory holds `a`: 0 this one, k > 0 weight memory k, -1 none of them. */
  placeOf(a: ArrayBufferView): number {
    if (this.owns(a)) return 0
    const k = this.weightArenas.findIndex((w) => w.owns(a))
    return k < 0 ? -1 : k + 1
  }

  /** The arena of place k (0: this one). */
  at(place: number): WasmArena {
    return place === 0 ? this : this.weightArenas[place - 1]
  }

  /** The same tensor as a view on this thread's buffer object (for arrays that came from another thread). */
  rebase<T extends Float32Array | Float16Array | Uint16Array | Int32Array | Uint8Array>(a: T): T {
    if (this.owns(a)) return a
    const b = a.byteOffset + a.byteLength > this.current.byteLength ? this.refresh() : this.current
    const Ctor = a.constructor as new (b: ArrayBufferLike, offset: number, length: number) => T
    return new Ctor(b, a.byteOffset, a.length)
  }

  /** rebase for a weight matrix of any storage (a quantized one is a plain object around its blocks), held in memory `place`. */
  rebaseMatrix<T extends Matrix>(m: T, place = 0): T {
    const a = place > 0 ? this.at(place) : this
    return (isQuantized(m) ? { ...m, blocks: a.rebase(m.blocks) } : a.rebase(m)) as T
  }

  /** A copy of weight `t` (same type, same storage), placed as `matrices` places weights. */
  copy<T extends Matrix>(t: T): T {
    const m = this.matrices
    if (isQuantized(t)) {
      const blocks = m.u8(t.blocks.length)
      blocks.set(t.blocks)
      return { ...t, blocks }
    }
    const a = t instanceof Float32Array ? m.f32(t.length) : t instanceof Float16Array ? m.f16(t.length) : m.bf16(t.length)
    a.set(t as never)
    return a as T
  }

  /**
   * Allocation for weight matrices of every stored type: in this memory while it keeps `keepFree` bytes
   * free (small tensors always), else in a weight memory.
   */
  get matrices(): MatrixAlloc {
    return {
      f32: (n) => this.weightArena(n * 4).allocF32(n),
      f16: (n) => this.weightArena(n * 2).allocF16(n),
      bf16: (n) => this.weightArena(n * 2).allocBf16(n),
      u8: (n) => this.weightArena(n).allocU8(n)
    }
  }

  /** Allocation in this memory only (KV cache pools, which the attention kernels read here). */
  get pools(): Pick<MatrixAlloc, "f32" | "f16"> {
    return { f32: (n) => this.allocF32(n), f16: (n) => this.allocF16(n) }
  }

  private weightArena(bytes: number): WasmArena {
    if (bytes < SMALL_TENSOR_BYTES || this.bytesUsed + bytes + this.keepFree <= MEMORY_BYTES) return this
    if (bytes > WEIGHT_MEMORY_WEIGHTS) throw new RangeError(`a weight tensor of ${gib(bytes)} exceeds what one weight memory holds (${gib(WEIGHT_MEMORY_WEIGHTS)})`)
    const last = this.weightArenas.at(-1)
    if (last !== undefined && last.bytesUsed + bytes <= WEIGHT_MEMORY_WEIGHTS) return last
    const fresh = WasmArena.create(bytes, 0)
    this.weightArenas.push(fresh)
    return fresh
  }

  get bytesUsed(): number {
    return Atomics.load(new Uint32Array(this.current, 0, 1), 0)
  }
}

/** Grow-only scratch in an arena (one per thread): a view of at least n elements, reused while large enough. */
export class ArenaScratch<T extends Float32Array | Int32Array> {
  private array: T | null = null
  private readonly arena: WasmArena
  private readonly alloc: (n: number) => T
  constructor(arena: WasmArena, alloc: (n: number) => T) {
    this.arena = arena
    this.alloc = alloc
  }
  get(n: number): T {
    if (this.array === null || this.array.length < n) this.array = this.alloc(Math.max(n, 2 * (this.array?.length ?? 0), 1024))
    return this.arena.rebase(this.array)
  }
}
