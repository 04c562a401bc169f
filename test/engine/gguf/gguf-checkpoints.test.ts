import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { convertToGguf } from "../../support/gguf.ts"
import { greedy, promptLogprobs, TOLERANCE } from "../../support/gguf-parity.ts"
import { maxAbsDiff } from "../../support/paged-sequence.ts"
import { repoRoot } from "../../support/models.ts"

// The parity checkpoints converted to GGUF F32 (lossless for their F32/F16/BF16 weights) reproduce their
// Hugging Face float64 goldens: llama.cpp's attn_q/attn_k row permutation is undone (GQA, MQA, a head_dim
// override), qwen2 is left unpermuted with its biases, Llama 3 rope scaling arrives as rope_freqs, untied
// and tied heads, Mistral as "llama".
const CHECKPOINTS = ["llama-gqa-untied-f32", "qwen2-bias-tied-bf16", "llama3-rope-f16", "mistral-f32"]

interface Case { name: string; input_ids: Array<number>; token_logprobs: Array<number>; last_logprobs: Array<number>; greedy: Array<number> }

for (const name of CHECKPOINTS) {
  const dir = path.join(repoRoot, "test", "fixtures", "checkpoints", name)
  const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8")) as { cases: Array<Case> }
  describe(`${name} as GGUF F32 against its Hugging Face float64 reference`, () => {
    it("prompt log-probs, last-position log-probs and greedy tokens", () => {
      const m = loadModelDir(convertToGguf(dir, "f32"))
      for (const c of golden.cases.filter((c) => c.input_ids.length > 1)) {
        const lp = promptLogprobs(m, c.input_ids)
        expect(maxAbsDiff(lp.tokens, c.token_logprobs), c.name).toBeLessThanOrEqual(TOLERANCE)
        expect(maxAbsDiff(lp.last, c.last_logprobs), c.name).toBeLessThanOrEqual(TOLERANCE)
        expect(greedy(m, c.input_ids, c.greedy.length), c.name).toEqual(c.greedy)
      }
    })
  })
}

it("the llama3 checkpoint's rope scaling arrives as per-frequency factors", () => {
  const m = loadModelDir(convertToGguf(path.join(repoRoot, "test", "fixtures", "checkpoints", "llama3-rope-f16"), "f32"))
  expect(m.config.ropeScaling?.type).toBe("factors")
})
