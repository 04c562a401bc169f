import { describe, expect, it } from "vitest"
import { dequantize } from "../../../src/engine/gguf/dequantize.ts"
import { readStoredBlocks } from "../../../src/engine/gguf/gguf-weights.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { convertToGguf } from "../../support/gguf.ts"
import { bundledModelDir } from "../../support/models.ts"
import { toF32 } from "../../../src/engine/matrix.ts"

// The seam for kernels on quantized blocks: each loaded weight names its tensor, and readStoredBlocks gives
// the blocks as stored, rows in Hugging Face order (attn_q / attn_k rows un-interleaved whole), so that
// dequantizing them gives exactly the float32 weights the model runs on.
describe("stored blocks of a GGUF model's weights", () => {
  it("dequantize to the loaded weights, rows in Hugging Face order, for every weight of a Q4_K_M file", () => {
    const m = loadModelDir(convertToGguf(bundledModelDir, "q4_k_m"))
    const { file, origins } = m.gguf!
    const w = m.model.weights
    const pairs = [[origins.embed, toF32(w.embed)], [origins.norm, w.norm]] as Array<[typeof origins.embed, Float32Array]>
    origins.layers.forEach((layer, i) => {
      for (const [key, origin] of Object.entries(layer)) if (origin !== null) pairs.push([origin, toF32(w.layers[i][key as "q"]!)])
    })
    const types = new Set<string>()
    let permuted = 0
    for (const [origin, weights] of pairs) {
      const blocks = readStoredBlocks(file, origin)
      expect(blocks.length).toBe(origin.tensor.byteLength)
      const back = new Float32Array(weights.length)
      dequantize(origin.tensor.type!, blocks, back, 0, back.length)
      expect(back, origin.tensor.name).toEqual(weights)
      types.add(origin.tensor.type!)
      if (origin.permutedHeads !== null) permuted++
    }
    expect([...types].sort()).toEqual(["F16", "F32", "Q4_K", "Q6_K"])
    expect(permuted).toBe(2 * m.config.numLayers)
  })
})
