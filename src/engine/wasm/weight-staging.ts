/**
 * Matmuls whose weights live in a weight memory (a model over 4 GiB, see arena.ts). A kernel instance
 * addresses one memory, so the calling thread copies the input rows (and the bias) into that memory's
 * staging area, the kernels of that memory run there, and the outputs are copied back. Same kernel code,
 * same bits; the copies are rows x (inDim + outDim) floats beside rows x inDim x outDim multiply-adds.
 */
import type { MatmulItem } from "../kernels.ts"
import { MATRIX_STORAGES, matrixData, matrixDtype, type MatrixStorage } from "../matrix.ts"
import { ArenaScratch, type WasmArena } from "./arena.ts"
import { instantiateKernels, matmulExports, type MatmulExport } from "./module.ts"
import { withDequantizedRows } from "./dequantized-matmul.ts"

/** One matmul as the kernels of memory `place` run it: addresses in that memory (bias 0 = none). */
export interface MatmulCall {
  readonly place: number
  readonly out: number
  readonly x: number
  readonly w: number
  readonly rows: number
  readonly inDim: number
  readonly outDim: number
  readonly bias: number
  /** Index in MATRIX_STORAGES. */
  readonly storage: number
}

/** This thread's matmul kernels for each memory of the arena (instantiated on first use). */
export const matmulsByPlace = (arena: WasmArena, mainInstance: WebAssembly.Instance): ((place: number) => Record<MatrixStorage, MatmulExport>) => {
  const byPlace: Array<Record<MatrixStorage, MatmulExport>> = [withDequantizedRows(matmulExports(mainInstance), mainInstance, arena)]
  return (place) => {
    let m = byPlace[place]
    if (m === undefined) {
      if (place > arena.weightArenas.length) throw new Error(`weight memory ${place} is unknown to this thread (weights loaded after it started)`)
      const home = arena.at(place)
      const instance = instantiateKernels(home.memory)
      m = byPlace[place] = withDequantizedRows(matmulExports(instance), instance, home)
    }
    return m
  }
}

/** Runs one call with this thread's kernels (the whole column range). */
export const runMatmulCall = (kernels: (place: number) => Record<MatrixStorage, MatmulExport>, c: MatmulCall, o0 = 0, o1 = c.outDim): void => {
  kernels(c.place)[MATRIX_STORAGES[c.storage]](c.out, c.x, c.w, c.rows, c.inDim, c.outDim, c.bias, o0, o1)
}

/** The calling thread's staging: turns items over rows in the main memory into calls, and copies the outputs back. */
export class WeightStaging {
  private readonly arena: WasmArena
  private readonly scratch = new Map<number, ArenaScratch<Float32Array>>()

  constructor(arena: WasmArena) {
    this.arena = arena
  }

  /** The calls for `items` over x (main memory); items whose weights are elsewhere read staged copies. */
  stage(x: Float32Array, rows: number, inDim: number, items: ReadonlyArray<MatmulItem>): { readonly calls: ReadonlyArray<MatmulCall>; readonly copyBack: () => void } {
    const a = this.arena
    const places = items.map((m) => a.placeOf(matrixData(m.w)))
    const backs: Array<() => void> = []
    const staged = new Map<number, { view: Float32Array; next: number }>()
    const calls = items.map((m, i): MatmulCall => {
      const place = places[i], storage = MATRIX_STORAGES.indexOf(matrixDtype(m.w)), w = matrixData(m.w).byteOffset
      if (place === 0) return { place, out: m.out.byteOffset, x: x.byteOffset, w, rows, inDim, outDim: m.outDim, bias: m.bias === null ? 0 : m.bias.byteOffset, storage }
      let s = staged.get(place)
      if (s === undefined) staged.set(place, (s = this.area(place, x, rows, inDim, items, places)))
      const out = s.view.subarray(s.next, s.next + rows * m.outDim)
      s.next = align4(s.next + rows * m.outDim)
      let bias = 0
      if (m.bias !== null) {
        s.view.set(m.bias.subarray(0, m.outDim), s.next)
        bias = s.view.byteOffset + 4 * s.next
        s.next = align4(s.next + m.outDim)
      }
      backs.push(() => m.out.set(out))
      return { place, out: out.byteOffset, x: s.view.byteOffset, w, rows, inDim, outDim: m.outDim, bias, storage }
    })
    return { calls, copyBack: () => backs.forEach((b) => b()) }
  }

  /** Memory `place`'s staging area for this call, x copied to its start. */
  private area(place: number, x: Float32Array, rows: number, inDim: number, items: ReadonlyArray<MatmulItem>, places: ReadonlyArray<number>) {
    let floats = rows * inDim + 4
    items.forEach((m, i) => {
      if (places[i] === place) floats += rows * m.outDim + 4 + (m.bias === null ? 0 : m.outDim + 4)
    })
    let s = this.scratch.get(place)
    if (s === undefined) {
      const home = this.arena.at(place)
      this.scratch.set(place, (s = new ArenaScratch(home, (n) => home.allocF32(n))))
    }
    const view = s.get(floats)
    view.set(x.subarray(0, rows * inDim))
    return { view, next: align4(rows * inDim) }
  }
}

/** Rows start on 16 bytes, as the arena's tensors do. */
const align4 = (floats: number) => (floats + 3) & ~3
