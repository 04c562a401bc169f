/**
 * Tensor memory inside one shared WebAssembly.Memory, so that the WASM kernels can address weights and
 * activations directly and worker threads share them without copies. A bump allocator whose top pointer
 * lives in the memory itself (updated with Atomics), so every thread attached to the memory allocates
 * from it safely. Nothing is freed: weights live as long as the model, and workspaces only grow.
 */
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
    const bytes = Math.ceil((n * 4) / 16) * 16 // 16-byte aligned for v128 loads
    const offset = Atomics.add(new Uint32Array(this.current, 0, 1), 0, bytes)
    const end = offset + bytes
    if (end > MAX_PAGES * PAGE) throw new RangeError(`the tensor arena is limited to 4 GiB; ${end} bytes requested`)
    const have = this.memory.buffer.byteLength
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE))
    return new Float32Array(this.refresh(), offset, n)
  }

  owns(a: Float32Array): boolean {
    return this.buffers.has(a.buffer)
  }

  /** The same tensor as a view on this thread's buffer object (for arrays that came from another thread). */
  rebase(a: Float32Array): Float32Array {
    if (this.owns(a)) return a
    const b = a.byteOffset + a.byteLength > this.current.byteLength ? this.refresh() : this.current
    return new Float32Array(b, a.byteOffset, a.length)
  }

  get bytesUsed(): number {
    return Atomics.load(new Uint32Array(this.current, 0, 1), 0)
  }
}
