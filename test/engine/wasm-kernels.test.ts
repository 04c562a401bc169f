import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { referenceKernels } from "../../src/engine/kernels.ts"
import { WasmArena } from "../../src/engine/wasm/arena.ts"
import { simdKernels } from "../../src/engine/wasm/simd-kernels.ts"
import { instantiateKernels, matmulExports } from "../../src/engine/wasm/module.ts"
import { SimdAttention } from "../../src/engine/wasm/simd-attention.ts"
import { toBf16Bits, type DenseMatrix, type WeightDtype } from "../../src/engine/matrix.ts"
import { assembleKernels, WASM_FILE } from "../../tools/build-wasm.ts"
import { prng, uniformFiller } from "../support/random-model.ts"

describe("WASM SIMD kernels", () => {
  it("the committed kernels.wasm is exactly what kernels.wat and the generated matmuls assemble to", async () => {
    expect(Buffer.from(await assembleKernels()).equals(fs.readFileSync(WASM_FILE))).toBe(true)
  })

  const arena = WasmArena.create()
  const simd = simdKernels(arena)
  const rand = prng(3)
  const fill = uniformFiller(rand)

  it.each([[1, 64, 64], [3, 37, 10], [4, 128, 33], [7, 576, 9], [9, 3, 5], [16, 1536, 8]])(
    "matmul of %i rows, %i inputs, %i outputs matches the reference (f32 vs f64 accumulation)",
    (rows, inDim, outDim) => {
      const x = fill(arena.allocF32(rows * inDim)), w = fill(arena.allocF32(outDim * inDim)), bias = fill(arena.allocF32(outDim))
      const got = arena.allocF32(rows * outDim), want = new Float32Array(rows * outDim)
      simd.matmul(got, x, w, rows, inDim, outDim, bias)
      referenceKernels.matmul(want, x, w, rows, inDim, outDim, bias)
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.sqrt(inDim))
      // Without bias too, and the values really came from the WASM path (not the fallback).
      simd.matmul(got, x, w, rows, inDim, outDim, null)
      referenceKernels.matmul(want, x, w, rows, inDim, outDim, null)
      expect(got.some((v, i) => v !== want[i]) || inDim < 4).toBe(true)
    }
  )

  const cast = (f: Float32Array, dtype: WeightDtype): DenseMatrix => {
    if (dtype === "float32") return arena.copy(f)
    if (dtype === "float16") return arena.copy(Float16Array.from(f))
    return arena.copy(Uint16Array.from(f, toBf16Bits))
  }

  for (const dtype of ["bfloat16", "float16"] satisfies Array<WeightDtype>) {
    it.each([[1, 64, 64], [3, 37, 10], [4, 128, 33], [7, 576, 9], [9, 3, 5], [16, 1536, 8], [70, 20, 11]])(
      `matmul with ${dtype} weights, %i rows, %i inputs, %i outputs matches the reference on the same values`,
      (rows, inDim, outDim) => {
        const x = fill(arena.allocF32(rows * inDim)), w = cast(fill(new Float32Array(outDim * inDim)), dtype), bias = fill(arena.allocF32(outDim))
        const got = arena.allocF32(rows * outDim), want = new Float32Array(rows * outDim)
        simd.matmul(got, x, w, rows, inDim, outDim, bias)
        referenceKernels.matmul(want, x, w, rows, inDim, outDim, bias)
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.sqrt(inDim))
        expect(got.some((v, i) => v !== want[i]) || inDim < 4).toBe(true)
      }
    )
  }

  it("f16 weights widen exactly: subnormals, the largest values and signed zero (inf/NaN weights are refused at load)", () => {
    const values = [0, -0, 1, -2.5, 6.1e-5, 5.96e-8, -5.96e-8, -3.1e-6, 6.09e-5, 65504, -65504, 0.333]
    const want = Array.from(Float16Array.from(values), (v) => v + 0)
    // inDim 1 takes the scalar path, inDim 4 the vector one: row o is [v_o, 0, ...], x is [1, 0, ...].
    for (const inDim of [1, 4]) {
      const w = arena.copy(Float16Array.from(values.flatMap((v) => [v, ...new Array(inDim - 1).fill(0)])))
      const x = arena.allocF32(inDim)
      x[0] = 1
      const got = arena.allocF32(values.length)
      simd.matmul(got, x, w, 1, inDim, values.length, null)
      expect(Array.from(got)).toEqual(want)
    }
  })

  it.each(["float32", "bfloat16", "float16"] satisfies Array<WeightDtype>)(
    "%s: a column's result does not depend on how the columns are split (thread-count invariance)",
    (dtype) => {
      const exports = matmulExports(instantiateKernels(arena.memory))[dtype]
      for (const rows of [1, 3, 16, 70]) {
        const inDim = 75, outDim = 37
        const x = fill(arena.allocF32(rows * inDim)), w = cast(fill(new Float32Array(outDim * inDim)), dtype), bias = fill(arena.allocF32(outDim))
        const whole = arena.allocF32(rows * outDim), split = arena.allocF32(rows * outDim)
        exports(whole.byteOffset, x.byteOffset, w.byteOffset, rows, inDim, outDim, bias.byteOffset, 0, outDim)
        for (const cuts of [[0, 1, 37], [0, 13, 26, 37], [0, 5, 6, 19, 37]]) {
          split.fill(0)
          for (let i = 0; i + 1 < cuts.length; i++) exports(split.byteOffset, x.byteOffset, w.byteOffset, rows, inDim, outDim, bias.byteOffset, cuts[i], cuts[i + 1])
          expect(Array.from(split)).toEqual(Array.from(whole))
        }
      }
    }
  )

  it.each(["float32", "bfloat16", "float16"] satisfies Array<WeightDtype>)(
    "%s: a row's result does not depend on the batch around it (every tile shape and row block)",
    (dtype) => {
      const exports = matmulExports(instantiateKernels(arena.memory))[dtype]
      const inDim = 75, outDim = 37, maxRows = 127
      const x = fill(arena.allocF32(maxRows * inDim)), w = cast(fill(new Float32Array(outDim * inDim)), dtype), bias = fill(arena.allocF32(outDim))
      const alone = arena.allocF32(maxRows * outDim), batched = arena.allocF32(maxRows * outDim)
      for (let r = 0; r < maxRows; r++) exports(alone.byteOffset + r * outDim * 4, x.byteOffset + r * inDim * 4, w.byteOffset, 1, inDim, outDim, bias.byteOffset, 0, outDim)
      // 1-9 rows: every remainder after whole 5-row tiles; 61 and 127: several row blocks and a remainder.
      for (const rows of [1, 2, 3, 4, 5, 6, 7, 8, 9, 61, 127]) {
        batched.fill(0)
        exports(batched.byteOffset, x.byteOffset, w.byteOffset, rows, inDim, outDim, bias.byteOffset, 0, outDim)
        expect(Array.from(batched.subarray(0, rows * outDim))).toEqual(Array.from(alone.subarray(0, rows * outDim)))
      }
    }
  )

  it.each([["f32", null], ["f16", null], ["f32", 5], ["f16", 7]] as const)(
    "paged attention with %s KV (sliding window %s) matches the reference, GQA, shuffled blocks, heads split any way",
    (kv, slidingWindow) => {
      const numHeads = 6, numKvHeads = 2, headDim = 16, blockSize = 4, numBlocks = 12
      const kvDim = numKvHeads * headDim, qDim = numHeads * headDim
      const pool = () => (kv === "f32" ? arena.allocF32(numBlocks * blockSize * kvDim) : arena.allocF16(numBlocks * blockSize * kvDim))
      const k = pool(), v = pool()
      for (let i = 0; i < k.length; i++) {
        k[i] = rand() * 2 - 1
        v[i] = rand() * 2 - 1
      }
      // Two sequences: 3 tokens of one (positions 9..11), 2 of the other (0, 1).
      const positions = Int32Array.from([9, 10, 11, 0, 1]), seqIndex = Int32Array.from([0, 0, 0, 1, 1])
      const batch = {
        tokens: 5, positions, seqIndex, blockTables: [Int32Array.from([7, 2, 9]), Int32Array.from([4])], blockSize,
        numHeads, numKvHeads, headDim, scale: 1 / Math.sqrt(headDim), slidingWindow
      }
      const q = fill(arena.allocF32(5 * qDim))
      const got = arena.allocF32(5 * qDim), want = new Float32Array(5 * qDim)
      simd.pagedAttention(got, q, k, v, batch)
      referenceKernels.pagedAttention(want, q, k, v, batch)
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5)
      expect(got.some((x, i) => x !== want[i])).toBe(true) // the WASM path ran
      // Any split of the (token, KV head) units gives the same bits, and the ranks' shares cover every unit once.
      const att = new SimdAttention(arena, instantiateKernels(arena.memory))
      const job = att.prepare(got, q, k, v, batch)!
      const split = arena.allocF32(5 * qDim)
      att.prepare(split, q, k, v, batch)
      const splitJob = { ...job, out: split.byteOffset }
      for (const [u0, u1] of [[0, 1], [1, 4], [4, 7], [7, 10]]) att.run(splitJob, u0, u1)
      expect(Array.from(split)).toEqual(Array.from(got))
      for (const size of [1, 2, 3, 7]) {
        const shares = Array.from({ length: size }, (_, r) => att.share(job, r, size))
        expect(shares[0][0]).toBe(0)
        expect(shares[size - 1][1]).toBe(numKvHeads * 5)
        shares.forEach(([u0, u1], r) => {
          expect(u1).toBeGreaterThanOrEqual(u0)
          if (r > 0) expect(u0).toBe(shares[r - 1][1])
        })
      }
    }
  )

  it.each([["f32"], ["f16"]] as const)(
    "%s KV: a head's attention is the same bits whatever the size of its GQA group (the kernels take 1 to 4 query rows at once)",
    (kv) => {
      const numKvHeads = 2, headDim = 24, blockSize = 4, numBlocks = 16, tokens = 4
      const kvDim = numKvHeads * headDim
      const pool = () => (kv === "f32" ? arena.allocF32(numBlocks * blockSize * kvDim) : arena.allocF16(numBlocks * blockSize * kvDim))
      const k = pool(), v = pool()
      for (let i = 0; i < k.length; i++) {
        k[i] = rand() * 2 - 1
        v[i] = rand() * 2 - 1
      }
      // One sequence's last 4 tokens (positions 33..36: 34 to 37 keys, on both sides of the 8-, 4- and 2-key steps).
      const positions = Int32Array.from([33, 34, 35, 36]), seqIndex = new Int32Array(tokens)
      const blockTables = [Int32Array.from([3, 11, 0, 7, 15, 2, 9, 5, 12, 1])]
      const batch = (numHeads: number) => ({ tokens, positions, seqIndex, blockTables, blockSize, numHeads, numKvHeads, headDim, scale: 0.3, slidingWindow: null })
      // Every head alone in its group: the one-row kernels.
      const alone = (q: Float32Array, group: number, h: number): Float32Array => {
        const g = Math.floor(h / group), q1 = arena.allocF32(tokens * kvDim), out = arena.allocF32(tokens * kvDim)
        for (let t = 0; t < tokens; t++) q1.set(q.subarray((t * group * numKvHeads + h) * headDim, (t * group * numKvHeads + h + 1) * headDim), (t * numKvHeads + g) * headDim)
        simd.pagedAttention(out, q1, k, v, batch(numKvHeads))
        return Float32Array.from({ length: tokens * headDim }, (_, i) => out[(Math.floor(i / headDim) * numKvHeads + g) * headDim + (i % headDim)])
      }
      for (const group of [2, 3, 4, 5, 6]) {
        const numHeads = group * numKvHeads, qDim = numHeads * headDim
        const q = fill(arena.allocF32(tokens * qDim)), out = arena.allocF32(tokens * qDim)
        simd.pagedAttention(out, q, k, v, batch(numHeads))
        for (let h = 0; h < numHeads; h++) {
          const got = Float32Array.from({ length: tokens * headDim }, (_, i) => out[Math.floor(i / headDim) * qDim + h * headDim + (i % headDim)])
          expect(Array.from(got), `group ${group}, head ${h}`).toEqual(Array.from(alone(q, group, h)))
        }
      }
    }
  )

  it.each([[1, 576], [3, 37], [5, 6]])("rmsNorm, siluMul and addInPlace of %i rows x %i match the reference", (rows, dim) => {
    const x = fill(arena.allocF32(rows * dim)), w = fill(arena.allocF32(dim))
    const got = arena.allocF32(rows * dim), want = new Float32Array(rows * dim)
    simd.rmsNorm(got, x, w, rows, dim, 1e-5)
    referenceKernels.rmsNorm(want, x, w, rows, dim, 1e-5)
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i])))
    const n = rows * dim
    const gate = arena.allocF32(n), up = fill(arena.allocF32(n)), gateRef = new Float32Array(n)
    for (let i = 0; i < n; i++) gate[i] = gateRef[i] = [0, -100, 100, 88.5, -88.5, 1e-30][i % 6] + (rand() * 20 - 10) * (i % 7 === 0 ? 0 : 1)
    simd.siluMul(gate, up, n)
    referenceKernels.siluMul(gateRef, up.slice(), n)
    for (let i = 0; i < n; i++) expect(Math.abs(gate[i] - gateRef[i])).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(gateRef[i])))
    const h = fill(arena.allocF32(n)), hRef = Float32Array.from(h)
    simd.addInPlace(h, x, n)
    referenceKernels.addInPlace(hRef, x, n)
    expect(Array.from(h)).toEqual(Array.from(hRef))
    expect(got.some((v, i) => v !== want[i])).toBe(true) // the WASM path ran
  })

  it.each(["float32", "bfloat16", "float16"] satisfies Array<WeightDtype>)(
    "%s: a row's results do not depend on how many rows share the call (every tile shape: 4-row tiles, then the last 1, 2 or 3 rows together)",
    (dtype) => {
      const inDim = 101, outDim = 13
      const x = fill(arena.allocF32(9 * inDim)), w = cast(fill(new Float32Array(outDim * inDim)), dtype)
      const one = arena.allocF32(outDim)
      for (let rows = 2; rows <= 9; rows++) {
        const all = arena.allocF32(rows * outDim)
        simd.matmul(all, x, w, rows, inDim, outDim, null)
        for (let r = 0; r < rows; r++) {
          simd.matmul(one, x.subarray(r * inDim, (r + 1) * inDim), w, 1, inDim, outDim, null)
          expect(Array.from(all.subarray(r * outDim, (r + 1) * outDim)), `row ${r} of ${rows}`).toEqual(Array.from(one))
        }
      }
    }
  )

  it("the attention softmax is the reference's float64 softmax, bit for bit (exps, sum in order, quotient rounded to f32)", () => {
    const attention = new SimdAttention(arena, instantiateKernels(arena.memory))
    const p = arena.allocF32(800), e = arena.allocF32(1600)
    let compared = 0
    for (let trial = 0; trial < 400; trial++) {
      // Lengths on both sides of the 4- and 2-lane steps, spreads from flat to peaked (exps down to ~0).
      const n = 1 + Math.floor(rand() * 700), spread = [0.1, 1, 5, 30, 200][trial % 5]
      const scores = Float32Array.from({ length: n }, () => (rand() * 2 - 1) * spread)
      const want = new Float32Array(scores)
      let max = -Infinity, sum = 0
      for (let j = 0; j < n; j++) if (want[j] > max) max = want[j]
      const exps = Array.from(want, (s) => Math.exp(s - max))
      for (const x of exps) sum += x
      exps.forEach((x, j) => (want[j] = x / sum))
      const view = arena.rebase(p)
      view.set(scores)
      attention.softmax(view.byteOffset, arena.rebase(e).byteOffset, n)
      expect(Array.from(arena.rebase(p).subarray(0, n)), `n ${n}, spread ${spread}`).toEqual(Array.from(want))
      compared += n
    }
    expect(compared).toBeGreaterThan(100_000)
  })

  it("falls back to the reference kernels for tensors outside the arena", () => {
    const x = fill(new Float32Array(8)), w = fill(new Float32Array(16)), got = new Float32Array(4), want = new Float32Array(4)
    simd.matmul(got, x, w, 2, 4, 2, null)
    referenceKernels.matmul(want, x, w, 2, 4, 2, null)
    expect(got).toEqual(want)
  })

  it("the arena grows on demand and is shared by attached views", () => {
    const big = arena.allocF32(5_000_000)
    big[4_999_999] = 42
    const other = WasmArena.attach(arena.memory)
    expect(other.rebase(big)[4_999_999]).toBe(42)
    expect(other.allocF32(4).byteOffset).toBeGreaterThanOrEqual(big.byteOffset + big.byteLength)
  })
})
