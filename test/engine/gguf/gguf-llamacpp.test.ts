import type { LlamaContext, LlamaModel } from "node-llama-cpp"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadModelDir, type LoadedModel } from "../../../src/engine/model-dir.ts"
import { convertToGguf, ggufGolden } from "../../support/gguf.ts"
import { greedy } from "../../support/gguf-parity.ts"
import { loadLlamaCppModel } from "../../support/llama-cpp.ts"
import { bundledModelDir } from "../../support/models.ts"

// The same GGUF file in llama.cpp and in Inferline: greedy tokens agree with the float64 reference (on the
// dequantized weights) wherever its top-2 margin exceeds 0.02, for llama.cpp, and for Inferline (whose
// log-probs are within 1e-3 of the reference) wherever it exceeds 2e-3. Past the first step where a
// sequence leaves the reference's path, later tokens are not comparable and are not compared.
const LLAMA_CPP_MARGIN = 0.02
const golden = ggufGolden("inferline-kjv")

/** Steps compared before the first allowed divergence; fails on a divergence where the margin was wide. */
const compareToReference = (got: ReadonlyArray<number>, ref: ReadonlyArray<number>, margins: ReadonlyArray<number>, margin: number, what: string): number => {
  for (let i = 0; i < ref.length; i++) {
    if (got[i] === ref[i]) continue
    expect(margins[i], `${what}: step ${i} chose ${got[i]}, the reference ${ref[i]} by a margin of ${margins[i]}`).toBeLessThanOrEqual(margin)
    return i
  }
  return ref.length
}

/** llama.cpp's greedy tokens from the prompt of each golden case (EOG tokens included, generation goes on). */
const llamaCppGreedy = async (ctx: LlamaContext, cases: typeof golden.types[string]["cases"]) => {
  const out: Array<Array<number>> = []
  for (const c of cases) {
    const seq = ctx.getSequence()
    const tokens: Array<number> = []
    for await (const t of seq.evaluate(c.input_ids as Array<never>, { temperature: 0, yieldEogToken: true })) {
      tokens.push(t)
      if (tokens.length === c.greedy.length) break
    }
    seq.dispose()
    out.push(tokens)
  }
  return out
}

for (const type of ["f16", "q8_0"] as const) {
  describe(`llama.cpp and Inferline on the bundled model as ${type}`, () => {
    let llamaModel: LlamaModel, ctx: LlamaContext, ours: LoadedModel
    beforeAll(async () => {
      const file = convertToGguf(bundledModelDir, type)
      llamaModel = await loadLlamaCppModel(file)
      ctx = await llamaModel.createContext({ contextSize: 512, threads: 1 })
      ours = loadModelDir(file)
    })
    afterAll(async () => {
      await ctx?.dispose()
      await llamaModel?.dispose()
    })

    it("greedy tokens follow the float64 reference wherever its margin is wide", async () => {
      let compared = 0
      const cases = golden.types[type].cases
      const fromLlama = await llamaCppGreedy(ctx, cases)
      cases.forEach((c, i) => {
        compared += compareToReference(fromLlama[i], c.greedy, c.margins, LLAMA_CPP_MARGIN, `llama.cpp, ${c.name}`)
        compareToReference(greedy(ours, c.input_ids, c.greedy.length), c.greedy, c.margins, 2e-3, `Inferline, ${c.name}`)
      })
      // Most of the reference's paths are followed: the comparison is not vacuous.
      expect(compared).toBeGreaterThan(golden.types[type].cases.reduce((n, c) => n + c.greedy.length, 0) / 2)
    })
  })
}

// Every type tools/hf_to_gguf.py writes is read by llama.cpp as it is meant: its greedy path is the
// reference's wherever the margin is beyond llama.cpp's own deviation from the reference (its quantized
// activations move prompt log-probs by up to ~0.15 on these files, bench/gguf-logprobs.ts).
describe("llama.cpp reads every GGUF type the converter writes", () => {
  for (const type of Object.keys(golden.types)) {
    it(type, async () => {
      const model = await loadLlamaCppModel(convertToGguf(bundledModelDir, type))
      const ctx = await model.createContext({ contextSize: 512, threads: 1 })
      try {
        const cases = golden.types[type].cases
        const fromLlama = await llamaCppGreedy(ctx, cases)
        let compared = 0
        cases.forEach((c, i) => { compared += compareToReference(fromLlama[i], c.greedy, c.margins, 0.5, `llama.cpp ${type}, ${c.name}`) })
        expect(compared).toBeGreaterThan(cases.length)
      } finally {
        await ctx.dispose()
        await model.dispose()
      }
    })
  }
})
