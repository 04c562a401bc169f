import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor, type RequestOutput } from "../../src/engine/engine-core.ts"
import { CompiledGrammar } from "../../src/engine/guided/compiled-grammar.ts"
import { guidedCompilerFor } from "../../src/engine/guided/guided-compiler.ts"
import { specGrammar } from "../../src/engine/guided/guided-spec.ts"
import { TokenVocabulary } from "../../src/engine/guided/vocabulary.ts"
import { GuidedSequence } from "../../src/engine/guided/guided-sequence.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { loadModelDir } from "../../src/engine/model-dir.ts"
import { RequestSampler, Rng } from "../../src/engine/sampler.ts"
import { defaultSamplingParams, type SamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../src/engine/scheduler.ts"
import { testModelDir } from "../support/models.ts"
import { jsonSchemaValidator } from "../support/ajv.ts"

// Guided decoding in the sampler and the engine core, on the real model: the mask holds in every step,
// EOS comes only where the grammar may end, and batching, preemption, n > 1 and seeds behave as they do
// without a grammar.
const loaded = loadModelDir(testModelDir())
const V = loaded.config.vocabSize
const BS = 16
const EOS = [0, 2]
const compiler = guidedCompilerFor(loaded.tokenizer!, V)
const SCHEMA = {
  type: "object",
  properties: { name: { type: "string", maxLength: 10 }, n: { type: "integer", minimum: 1, maximum: 99 }, tags: { type: "array", items: { enum: ["a", "bé"] }, maxItems: 2 } },
  required: ["name", "n", "tags"],
  additionalProperties: false
}
const grammar = compiler.compile({ kind: "json_schema", schema: SCHEMA }).grammar
const validate = jsonSchemaValidator().compile(SCHEMA)

const makeCore = (numBlocks: number, maxNumBatchedTokens = 2048) => {
  const cache = new PagedKvCache(loaded.config, { numBlocks, blockSize: BS, dtype: "f32" })
  const executor: ModelExecutor = { vocabSize: V, execute: (batch) => loaded.model.forward(batch, cache) }
  const core = new EngineCore({
    vocabSize: V, blockSize: BS, numBlocks, enablePrefixCaching: true, eosTokenIds: EOS, tokenizer: loaded.tokenizer,
    scheduler: { ...defaultSchedulerConfig(loaded.config.maxPositionEmbeddings), maxNumBatchedTokens, longPrefillTokenThreshold: 32 }
  })
  return { core, executor }
}

const params = (over: Partial<SamplingParams> = {}) => defaultSamplingParams({ temperature: 1, maxTokens: 300, guided: grammar, ...over })
const prompt = loaded.tokenizer!.encode("<|im_start|>user\nA person as JSON<|im_end|>\n<|im_start|>assistant\n", false)

/** Runs requests to the end; returns each one's tokens, text and finish reason. */
const run = (core: EngineCore, executor: ModelExecutor, adds: ReadonlyArray<{ id: string; params: SamplingParams; seqIndex?: number }>, onStep?: (step: number) => void) => {
  const out = new Map<string, { tokens: Array<number>; text: string; finish: RequestOutput["finishReason"] }>()
  for (const a of adds) {
    core.add({ id: a.id, promptTokenIds: prompt, params: a.params, seqIndex: a.seqIndex })
    out.set(a.id, { tokens: [], text: "", finish: null })
  }
  for (let step = 0; core.numLive > 0 && step < 5000; step++) {
    onStep?.(step)
    for (const o of core.step(executor, step)) {
      const r = out.get(o.requestId)!
      r.tokens.push(...o.tokenIds)
      r.text += o.text
      if (o.finishReason !== null) r.finish = o.finishReason
    }
    core.checkInvariants()
  }
  return out
}

describe("guided decoding in the sampler", () => {
  it("samples only allowed tokens, EOS only where the grammar may end; logprobs stay the model's raw ones", () => {
    const rng = Rng.seeded(5)
    const logits = new Float32Array(V)
    for (let trial = 0; trial < 20; trial++) {
      const seq = new GuidedSequence(grammar)
      const sampler = new RequestSampler(params({ logprobs: 2, seed: trial }), EOS, [])
      for (let step = 0; step < 200 && !seq.isComplete; step++) {
        // EOS strongly favoured by the model: the mask must still hold it back until the grammar may end.
        for (let i = 0; i < V; i++) logits[i] = (rng.nextFloat() - 0.5) * 8
        logits[0] = 30
        const mask = seq.allowedTokens()
        const s = sampler.sample(logits, 0, V, [], seq)
        if (EOS.includes(s.tokenId)) {
          expect(seq.canEnd).toBe(true)
          break
        }
        expect((mask[s.tokenId >>> 5] & (1 << (s.tokenId & 31))) !== 0).toBe(true)
        // Raw logprob: log-softmax of the unmasked row (EOS at 30 dominates it).
        expect(s.logprob!).toBeLessThan(-10)
        expect(s.topLogprobs![0].tokenId).toBe(0)
        expect(seq.accept(s.tokenId)).toBe(true)
      }
    }
  })
})

describe("guided decoding in the engine core (real model)", () => {
  it("every answer is a valid document and ends by the grammar (stop), the same whatever the batch and with forced preemption", () => {
    const seeds = Array.from({ length: 12 }, (_, i) => i)
    // Alone, one by one.
    const alone = seeds.map((seed) => {
      const { core, executor } = makeCore(64)
      return run(core, executor, [{ id: "solo", params: params({ seed }) }]).get("solo")!
    })
    for (const a of alone) {
      expect(a.finish).toBe("stop")
      expect(validate(JSON.parse(a.text)), a.text).toBe(true)
      // Ended by the grammar itself: no EOS token was sampled.
      expect(EOS).not.toContain(a.tokens.at(-1))
    }
    // Together, in a cache too small for all of them: preemptions happen, tokens do not change.
    const { core, executor } = makeCore(24, 128)
    const together = run(core, executor, seeds.map((seed) => ({ id: `r${seed}`, params: params({ seed }) })))
    expect(core.scheduler.numPreemptions).toBeGreaterThan(0)
    seeds.forEach((seed) => expect(together.get(`r${seed}`)!.tokens).toEqual(alone[seed].tokens))
  })

  it("n > 1: each sequence has its own grammar position; sequence 0 equals the n = 1 request", () => {
    const { core, executor } = makeCore(64)
    const got = run(core, executor, [0, 1, 2, 3].map((i) => ({ id: `s#${i}`, params: params({ seed: 9, n: 4 }), seqIndex: i })))
    const texts = [0, 1, 2, 3].map((i) => got.get(`s#${i}`)!.text)
    for (const t of texts) expect(validate(JSON.parse(t)), t).toBe(true)
    expect(new Set(texts).size).toBeGreaterThan(1)
    const { core: c1, executor: e1 } = makeCore(64)
    expect(run(c1, e1, [{ id: "one", params: params({ seed: 9 }) }]).get("one")!.text).toBe(texts[0])
  })

  it("max_tokens cuts a document short with finish reason length (nothing is faked)", () => {
    const { core, executor } = makeCore(64)
    const got = run(core, executor, [{ id: "short", params: params({ seed: 1, maxTokens: 5 }) }]).get("short")!
    expect(got.finish).toBe("length")
    expect(got.tokens).toHaveLength(5)
    expect(() => JSON.parse(got.text)).toThrow()
  })

  it("a vocabulary that cannot spell what the grammar needs ends the sequence with abort, no token", () => {
    // Only token 100 has bytes ("a"); the grammar needs "ab".
    const vocab = new TokenVocabulary(V, Array.from({ length: V }, (_, id) => (id === 100 ? new TextEncoder().encode("a") : null)))
    const g = new CompiledGrammar(specGrammar({ kind: "regex", pattern: "ab" }), vocab)
    const { core, executor } = makeCore(16)
    const got = run(core, executor, [{ id: "stuck", params: params({ seed: 1, guided: g }) }]).get("stuck")!
    expect(got.tokens).toEqual([100])
    expect(got.finish).toBe("abort")
    expect(core.numLive).toBe(0)
  })

  it("a grammar compiled for another vocabulary size is refused", () => {
    const { core } = makeCore(8)
    const other = guidedCompilerFor(loaded.tokenizer!, V + 64).compile({ kind: "json_object" }).grammar
    expect(() => core.add({ id: "x", promptTokenIds: prompt, params: params({ guided: other }) })).toThrow("vocabulary")
  })
})
