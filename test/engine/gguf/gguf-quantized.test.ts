import { describe, expect, it } from "vitest"
import { isQuantized, matrixData, matrixDtype, toF32, type Matrix } from "../../../src/engine/matrix.ts"
import { CausalLM } from "../../../src/engine/model.ts"
import { loadModelDir, makeKernels, type LoadedModel } from "../../../src/engine/model-dir.ts"
import { mapWeights, type ModelWeights } from "../../../src/engine/weights.ts"
import { convertToGguf, ggufGolden, smollm2ShapedCheckpoint } from "../../support/gguf.ts"
import { promptLogprobs } from "../../support/gguf-parity.ts"
import { bundledModelDir } from "../../support/models.ts"

// Q8_0, Q4_0, Q5_0, Q4_K and Q6_K matrices of a GGUF file stay as the file's blocks in the kernels' memory, and the
// matmuls read them: memory is the file's size, and the logits are exactly those of the float32 kernels
// on the dequantized weights (the parity goldens then hold for them unchanged).
const golden = ggufGolden("smollm2-shaped")
const smollm2 = () => smollm2ShapedCheckpoint(golden.generator!.split(" ").slice(1))

const allTensors = (w: ModelWeights): Array<Matrix> => {
  const out = new Set<Matrix>([w.embed, w.lmHead, w.norm])
  for (const l of w.layers) for (const t of Object.values(l)) if (t !== null) out.add(t as Matrix)
  return [...out]
}

/** The same model with every matrix dequantized into a fresh arena (the float32 kernels then run). */
const dequantized = (m: LoadedModel): LoadedModel => {
  const kernels = makeKernels("simd")
  const arena = kernels.arena!
  const weights = mapWeights(m.model.weights, <T extends Matrix>(t: T) => arena.copy(toF32(t)) as T)
  return { ...m, model: new CausalLM(m.config, weights, kernels) }
}

const PROMPT = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 1000)

describe("GGUF Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K weights kept quantized", () => {
  // The SmolLM2 shape's 576-wide rows make its Q4_K_M file mostly Q5_0 and Q8_0 (llama-quantize's fallbacks).
  for (const type of ["q8_0", "q4_0", "q5_0", "q4_k_m"] as const) {
    it(`${type}: every matrix is the file's blocks, and resident weight bytes are the file's tensor bytes (not 4 per weight)`, () => {
      const file = convertToGguf(smollm2(), type)
      const kernels = makeKernels("simd")
      const before = kernels.arena!.bytesUsed
      const m = loadModelDir(file, { kernels })
      const used = kernels.arena!.bytesUsed - before
      const w = m.model.weights
      for (const t of [w.embed, ...w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])]) expect(isQuantized(t)).toBe(true)
      if (type !== "q4_k_m") expect(matrixDtype(w.layers[0].q)).toBe(type)
      const fileBytes = [...m.gguf!.file.tensors.values()].reduce((s, t) => s + t.byteLength, 0)
      const resident = allTensors(w).reduce((s, t) => s + matrixData(t).byteLength, 0)
      expect(resident).toBe(fileBytes)
      expect(used).toBeLessThan(fileBytes * 1.01)
      // 4 bytes per weight would be ~3.8x (q8_0) or ~7x (q4_0) the file.
      expect(m.parameters * 4).toBeGreaterThan(fileBytes * 3.5)
    })
  }

  // The bundled model's 256-wide rows take every type (its 688-wide down_proj falls back to F16, dequantized).
  for (const type of ["q8_0", "q4_0", "q5_0", "q4_k", "q6_k", "q4_k_m"]) {
    it(`${type}: prompt logits equal, bit for bit, the float32 kernels' on the dequantized weights; each matrix holds its tensor's bytes`, () => {
      const cases = [[bundledModelDir, PROMPT.map((t) => t % 4096)] as const, ...(type === "q8_0" || type === "q5_0" || type === "q4_k_m" ? [[smollm2(), PROMPT] as const] : [])]
      for (const [dir, prompt] of cases) {
        const m = loadModelDir(convertToGguf(dir, type))
        const w = m.model.weights, o = m.gguf!.origins
        const pairs: Array<[Matrix, number]> = [[w.embed, o.embed.tensor.byteLength]]
        w.layers.forEach((l, i) => (["q", "k", "v", "o", "gate", "up", "down"] as const).forEach((k) => pairs.push([l[k], o.layers[i][k]!.tensor.byteLength])))
        const kept = pairs.filter(([t]) => isQuantized(t))
        expect(kept.length).toBeGreaterThanOrEqual(pairs.length - m.config.numLayers)
        for (const [t, bytes] of kept) expect(matrixData(t).byteLength).toBe(bytes)
        const got = promptLogprobs(m, prompt), want = promptLogprobs(dequantized(m), prompt)
        expect(got.tokens).toEqual(want.tokens)
        expect(Buffer.from(got.last.buffer).equals(Buffer.from(want.last.buffer))).toBe(true)
      }
    })
  }

  it("a Q4_K_M file keeps Q4_K and Q6_K matrices side by side", () => {
    const w = loadModelDir(convertToGguf(bundledModelDir, "q4_k_m")).model.weights
    const kinds = new Set([w.embed, ...w.layers.flatMap((l) => [l.q, l.v, l.down])].map(matrixDtype))
    expect([...kinds].sort()).toEqual(["float32", "q4_k", "q6_k"])
  })
})
