// The slice of the WebAssembly JS API that the SIMD kernels use. TypeScript ships these types only in its
// DOM libs, which this Node project does not load.
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number
    maximum?: number
    shared?: boolean
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer | SharedArrayBuffer
    grow(delta: number): number
  }
  class Module {
    constructor(bytes: BufferSource)
  }
  type ImportValue = Memory | ((...args: Array<number>) => unknown) | number
  type Imports = Record<string, Record<string, ImportValue>>
  class Instance {
    constructor(module: Module, imports?: Imports)
    readonly exports: Record<string, unknown>
  }
}
