/**
 * Tensor memory inside one shared WebAssembly.Memory, so that the WASM kernels can address weights and
 * activations directly and worker threads share them without copies. A bump allocator whose top pointer
 * lives in the memory itself (updated with Atomics), so every thread attached to the memory allocates
 * from it safely. Nothing is freed: weights live as long as the model, and workspaces only grow.
 */
import { isQuantized, type Matrix, type MatrixAlloc } from "../matrix.ts"

const PAGE = 65536
const MAX_PAGES = 65536 // 4 GiB: the wasm32 limit
const HEADER = 64 // bytes [0, 4): the bump pointer; the rest keeps address 0 unused (0 means "no bias")

export class WasmArena {
  readonly memory: WebAssembly.Memory
  /** Every SharedArrayBuffer object this thread has seen for the memory (a grow yields a new object). */
  private readonly buffers = new WeakSet<ArrayBufferLike>()
  private current: SharedArrayBuffer

  private constructor(memory: WebAssembly.Memory) {
    this.memory = memory
    this.current = this.refresh()
  }

  /** A new arena with room for at least `bytes` before it has to grow. */
  static create(bytes = PAGE): WasmArena {
    const pages = Math.max(1, Math.ceil((bytes + HEADER) / PAGE))
    const arena = new WasmArena(new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true }))
    Atomics.store(new Uint32Array(arena.current, 0, 1), 0, HEADER)
    return arena
  }

  /** The same arena seen from another thread (the memory arrives through postMessage/workerData). */
  static attach(memory: WebAssembly.Memory): WasmArena {
    return new WasmArena(memory)
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
    if (end > MAX_PAGES * PAGE) throw new RangeError(`the tensor arena is limited to 4 GiB; ${end} bytes requested`)
    const have = this.memory.buffer.byteLength
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE))
    return offset
  }

  owns(a: ArrayBufferView): boolean {
    return this.buffers.has(a.buffer)
  }

  /** The same tensor as a view on this thread's buffer object (for arrays that came from another thread). */
  rebase<T extends Float32Array | Float16Array | Uint16Array | Int32Array | Uint8Array>(a: T): T {
    if (this.owns(a)) return a
    const b = a.byteOffset + a.byteLength > this.current.byteLength ? this.refresh() : this.current
    const Ctor = a.constructor as new (b: ArrayBufferLike, offset: number, length: number) => T
    return new Ctor(b, a.byteOffset, a.length)
  }

  /** rebase for a weight matrix of any storage (a quantized one is a plain object around its blocks). */
  rebaseMatrix<T extends Matrix>(m: T): T {
    return (isQuantized(m) ? { ...m, blocks: this.rebase(m.blocks) } : this.rebase(m)) as T
  }

  /** A copy of `t` (same type, same storage) in this arena. */
  copy<T extends Matrix>(t: T): T {
    if (isQuantized(t)) {
      const blocks = this.allocU8(t.blocks.length)
      blocks.set(t.blocks)
      return { ...t, blocks }
    }
    const a = t instanceof Float32Array ? this.allocF32(t.length) : t instanceof Float16Array ? this.allocF16(t.length) : this.allocBf16(t.length)
    a.set(t as never)
    return a as T
  }

  /** Allocation for weight matrices of every stored type. */
  get matrices(): MatrixAlloc {
    return { f32: (n) => this.allocF32(n), f16: (n) => this.allocF16(n), bf16: (n) => this.allocBf16(n), u8: (n) => this.allocU8(n) }
  }

  get bytesUsed(): number {
    return Atomics.load(new Uint32Array(this.current, 0, 1), 0)
  }
}
