import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor, type RequestOutput } from "../../../src/engine/engine-core.ts"
import { guidedCompilerFor } from "../../../src/engine/guided/guided-compiler.ts"
import { PagedKvCache } from "../../../src/engine/kv-cache.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { defaultSamplingParams, type SamplingParams } from "../../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../../src/engine/scheduler.ts"
import type { SpeculativeConfig } from "../../../src/engine/spec-decode/config.ts"
import { testModelDir } from "../../support/models.ts"

// Everything a request gets back, not only its tokens, is the same with speculation: text released
// per token (stop strings cut mid-verification), logprobs, finish and stop reasons, usage; with EOS,
// min_tokens, penalties and guided decoding, whose grammar advances token by token through the drafts.
const loaded = loadModelDir(testModelDir())
const V = loaded.config.vocabSize
const tok = loaded.tokenizer!
const NGRAM: SpeculativeConfig = { method: "ngram", numSpeculativeTokens: 5, promptLookupMin: 1, promptLookupMax: 3, disableByBatchSize: null }
const grammar = guidedCompilerFor(tok, V).compile({ kind: "json_schema", schema: { type: "object", properties: { name: { type: "string", maxLength: 12 }, n: { type: "integer" } }, required: ["name", "n"], additionalProperties: false } }).grammar

const run = (prompt: ReadonlyArray<number>, params: SamplingParams, speculative: SpeculativeConfig | null) => {
  const numBlocks = 64
  const cache = new PagedKvCache(loaded.config, { numBlocks, blockSize: 16, dtype: "f32" })
  const executor: ModelExecutor = { vocabSize: V, execute: (batch) => loaded.model.forward(batch, cache) }
  const core = new EngineCore({ vocabSize: V, blockSize: 16, numBlocks, enablePrefixCaching: true, eosTokenIds: [0, 2], tokenizer: tok, speculative, scheduler: defaultSchedulerConfig(loaded.config.maxPositionEmbeddings) })
  core.add({ id: "x", promptTokenIds: prompt, params })
  const outputs: Array<RequestOutput> = []
  while (core.has("x")) outputs.push(...core.step(executor, 0))
  expect(core.kv.pool.usage).toBe(0)
  return { outputs, drafts: core.stats().specDecode?.numDraftTokens ?? 0 }
}

const verse = "And God said, Let there be light: and there was light. And God saw the light, that it was good. "
const repeated = tok.encode(verse + verse + verse + "And God said,")
const jsonPrompt = tok.encode("{\"name\": \"Adam\", \"n\": 1}\n{\"name\": \"Eve\", \"n\": 2}\n{\"name\": \"Abel\", \"n\": 3}\n")

const cases: Array<[string, ReadonlyArray<number>, SamplingParams]> = [
  ["greedy, stop strings, logprobs", repeated, defaultSamplingParams({ temperature: 0, maxTokens: 60, stop: ["light. And God s", "darkness"], logprobs: 3 })],
  ["greedy with EOS and min_tokens", repeated, defaultSamplingParams({ temperature: 0, maxTokens: 80, minTokens: 10 })],
  ["seeded sampling, top_k/top_p, penalties, logprobs", repeated, defaultSamplingParams({ temperature: 0.7, topK: 20, topP: 0.95, seed: 42, maxTokens: 60, repetitionPenalty: 1.1, presencePenalty: 0.2, frequencyPenalty: 0.1, logprobs: 1, ignoreEos: true })],
  ["seeded guided JSON", jsonPrompt, defaultSamplingParams({ temperature: 0.8, seed: 7, maxTokens: 60, guided: grammar })],
  ["greedy guided JSON", jsonPrompt, defaultSamplingParams({ temperature: 0, maxTokens: 60, guided: grammar })]
]

describe("speculative decoding: outputs identical to plain decoding", () => {
  for (const [name, prompt, params] of cases) {
    it(name, () => {
      const plain = run(prompt, params, null)
      const spec = run(prompt, params, NGRAM)
      // The speculating run's outputs also carry the sequence's draft counts (for its trace); nothing else differs.
      expect(spec.outputs.map(({ specDecode, ...o }) => o)).toEqual(plain.outputs)
      expect(spec.outputs.some((o) => o.specDecode !== undefined)).toBe(true)
      expect(spec.drafts).toBeGreaterThan(0)
    })
  }
})
