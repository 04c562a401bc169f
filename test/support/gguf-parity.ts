import { beforeAll, describe, expect, it } from "vitest"
import { logSoftmax } from "../../src/engine/batch.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { loadModelDir, type LoadedModel } from "../../src/engine/model-dir.ts"
import type { LayerWeights } from "../../src/engine/weights.ts"
import { convertToGguf, ggufGolden, sha256File, sha256Floats } from "./gguf.ts"
import { argmax, maxAbsDiff, PagedSequence, runStep } from "./paged-sequence.ts"
import { toF32 } from "../../src/engine/matrix.ts"

/** Prompt log-probs and greedy continuations of a loaded model, through the paged KV cache. */

export const TOLERANCE = 1e-3

const newCache = (m: LoadedModel, tokens: number, blockSize = 16) =>
  new PagedKvCache(m.config, { numBlocks: Math.ceil(tokens / blockSize) + 2, blockSize, dtype: "f32" }, m.model.kernels.arena?.pools)

/** One prefill step with logits for every position: the log-prob of each next prompt token, and the last row. */
export const promptLogprobs = (m: LoadedModel, ids: ReadonlyArray<number>) => {
  const V = m.config.vocabSize
  const cache = newCache(m, ids.length)
  const seq = new PagedSequence(cache, Array.from({ length: cache.numBlocks }, (_, i) => i))
  const [rows] = runStep(m.model, cache, [seq.chunk(ids, "all")])
  return { tokens: ids.slice(1).map((t, i) => logSoftmax(rows[i], 0, V)[t]), last: logSoftmax(rows[rows.length - 1], 0, V) }
}

/** `n` argmax tokens after the prompt, appended one decode step at a time. */
export const greedy = (m: LoadedModel, ids: ReadonlyArray<number>, n: number): Array<number> => {
  const cache = newCache(m, ids.length + n)
  const seq = new PagedSequence(cache, Array.from({ length: cache.numBlocks }, (_, i) => i))
  let [[last]] = runStep(m.model, cache, [seq.chunk(ids)])
  const out: Array<number> = []
  for (let i = 0; i < n; i++) {
    out.push(argmax(last))
    if (i + 1 < n) [[last]] = runStep(m.model, cache, [seq.chunk([out[i]])])
  }
  return out
}

const LAYER_NAMES: ReadonlyArray<readonly [keyof LayerWeights, string]> = [
  ["inputNorm", "input_layernorm.weight"], ["q", "self_attn.q_proj.weight"], ["k", "self_attn.k_proj.weight"],
  ["v", "self_attn.v_proj.weight"], ["o", "self_attn.o_proj.weight"], ["postNorm", "post_attention_layernorm.weight"],
  ["gate", "mlp.gate_proj.weight"], ["up", "mlp.up_proj.weight"], ["down", "mlp.down_proj.weight"],
  ["qBias", "self_attn.q_proj.bias"], ["kBias", "self_attn.k_proj.bias"], ["vBias", "self_attn.v_proj.bias"]
]

/** Every loaded weight under its Hugging Face name. */
export const hfNamedWeights = (m: LoadedModel): Map<string, Float32Array> => {
  const w = m.model.weights
  const out = new Map<string, Float32Array>([["model.embed_tokens.weight", toF32(w.embed)], ["model.norm.weight", w.norm]])
  if (w.lmHead !== w.embed) out.set("lm_head.weight", toF32(w.lmHead))
  w.layers.forEach((l, i) => {
    for (const [key, name] of LAYER_NAMES) if (l[key] !== null) out.set(`model.layers.${i}.${name}`, toF32(l[key]!))
  })
  return out
}

/**
 * For each GGUF type of a golden file (tools/make_gguf_goldens.py): the file tools/hf_to_gguf.py writes now
 * is the one the reference ran on, Inferline dequantizes it to the same float32 values, and its prompt
 * log-probs and greedy tokens match the float64 reference on those dequantized weights.
 */
export const describeGgufParity = (goldenName: string, checkpointDir: () => string) => {
  const golden = ggufGolden(goldenName)
  for (const [type, want] of Object.entries(golden.types)) {
    describe(`${goldenName} as ${type}`, () => {
      let file: string
      let m: LoadedModel
      beforeAll(() => {
        file = convertToGguf(checkpointDir(), type)
        m = loadModelDir(file)
      })

      it("tools/hf_to_gguf.py writes the file the reference ran on, with the recorded tensor types", () => {
        expect(sha256File(file)).toBe(want.gguf_sha256)
        const types = Object.fromEntries([...m.gguf!.file.tensors.values()].map((t) => [t.name, t.type]))
        expect(types).toEqual(want.tensor_types)
      })

      it("every weight dequantizes (and un-permutes) to the reference's float32 values, bit for bit", () => {
        const hashes = Object.fromEntries([...hfNamedWeights(m)].map(([name, a]) => [name, sha256Floats(a)]))
        expect(hashes).toEqual(want.dequantized_sha256)
      })

      it(`prompt log-probs within ${TOLERANCE} of the float64 reference`, () => {
        for (const c of want.cases) {
          expect(maxAbsDiff(promptLogprobs(m, c.input_ids).tokens, c.token_logprobs), c.name).toBeLessThanOrEqual(TOLERANCE)
        }
      })

      it("greedy tokens as the reference's wherever its top-2 margin is above 2e-3", () => {
        for (const c of want.cases) {
          const firstClose = c.margins.findIndex((g) => g <= 2e-3)
          const n = firstClose < 0 ? c.greedy.length : firstClose + 1
          // Up to and including the first close call, where float32 and float64 may each pick either token.
          expect(greedy(m, c.input_ids, n).slice(0, firstClose < 0 ? n : firstClose), c.name).toEqual(c.greedy.slice(0, firstClose < 0 ? n : firstClose))
        }
      })
    })
  }
}
