import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor, type RequestOutput } from "../../src/engine/engine-core.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { loadModelDir } from "../../src/engine/model-dir.ts"
import type { PoolingType } from "../../src/engine/pooling.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../src/engine/scheduler.ts"
import { prng } from "../support/random-model.ts"
import { testModelDir } from "../support/models.ts"
import { toF32 } from "../../src/engine/matrix.ts"

// Embeddings through the engine core on the real model: pooled from the final hidden states, batched
// with prefills and decodes like any prompt, and bit-identical whatever else is in the step and however
// the prompt is chunked.
const loaded = loadModelDir(testModelDir())
const V = loaded.config.vocabSize
const H = loaded.config.hiddenSize
const BS = 16

const makeCore = (options: { maxNumBatchedTokens: number; longPrefill?: number; numBlocks?: number }) => {
  const numBlocks = options.numBlocks ?? 200
  const cache = new PagedKvCache(loaded.config, { numBlocks, blockSize: BS, dtype: "f32" })
  const executor: ModelExecutor = { vocabSize: V, execute: (batch) => loaded.model.forward(batch, cache) }
  const core = new EngineCore({
    vocabSize: V, hiddenSize: H, blockSize: BS, numBlocks, enablePrefixCaching: true, eosTokenIds: [], tokenizer: loaded.tokenizer,
    scheduler: { ...defaultSchedulerConfig(loaded.config.maxPositionEmbeddings), maxNumBatchedTokens: options.maxNumBatchedTokens, longPrefillTokenThreshold: options.longPrefill ?? 0 }
  })
  return { core, executor }
}

const run = (core: EngineCore, executor: ModelExecutor, ids: ReadonlyArray<string>) => {
  const outputs = new Map<string, Array<RequestOutput>>()
  for (let guard = 0; ids.some((id) => core.has(id)) && guard < 10_000; guard++) {
    for (const o of core.step(executor, 0)) outputs.set(o.requestId, [...(outputs.get(o.requestId) ?? []), o])
  }
  return outputs
}

const embedAlone = (prompt: ReadonlyArray<number>, pooling: PoolingType) => {
  const { core, executor } = makeCore({ maxNumBatchedTokens: 2048 })
  core.add({ id: "e", promptTokenIds: prompt, params: defaultSamplingParams({ maxTokens: 1 }), pooling })
  const out = run(core, executor, ["e"]).get("e")!
  expect(out).toHaveLength(1)
  return out[0]
}

const randomPrompt = (rand: () => number, length: number) => Array.from({ length }, () => 3 + Math.floor(rand() * (V - 3)))

describe("embeddings in the engine core", () => {
  it("is one output: the pooled vector of unit length, the prompt counted, nothing generated, the blocks freed", () => {
    const prompt = randomPrompt(prng(1), 40)
    for (const pooling of ["last", "mean"] as const) {
      const o = embedAlone(prompt, pooling)
      expect(o.finishReason).toBe("stop")
      expect(o.tokenIds).toEqual([])
      expect(o.promptTokens).toBe(40)
      expect(o.completionTokens).toBe(0)
      expect(o.embedding).toHaveLength(H)
      expect(Math.abs(Math.hypot(...o.embedding!) - 1)).toBeLessThan(1e-12)
    }
    expect(embedAlone(prompt, "last").embedding).not.toEqual(embedAlone(prompt, "mean").embedding)
  })

  it("last pooling is the final-normed hidden state that the logits come from: logits = |h| · (embedding · lm_head)", () => {
    const prompt = randomPrompt(prng(2), 25)
    const e = embedAlone(prompt, "last").embedding!
    // The last prompt position's logits, from a plain generation step over the same prompt.
    const { core } = makeCore({ maxNumBatchedTokens: 2048 })
    core.add({ id: "g", promptTokenIds: prompt, params: defaultSamplingParams({ maxTokens: 1 }) })
    const cache = new PagedKvCache(loaded.config, { numBlocks: 200, blockSize: BS, dtype: "f32" })
    const plan = core.prepareStep(0)!
    const logits = loaded.model.forward(plan.batch, cache)
    const w = toF32(loaded.model.weights.lmHead) // kept at the checkpoint precision (bf16 bits): widen
    const projected = new Float64Array(V)
    for (let v = 0; v < V; v++) {
      let s = 0
      for (let j = 0; j < H; j++) s += e[j] * w[v * H + j]
      projected[v] = s
    }
    // The scale is the hidden state's norm; every logit must agree on it.
    let best = 0
    for (let v = 1; v < V; v++) if (Math.abs(projected[v]) > Math.abs(projected[best])) best = v
    const scale = logits[best] / projected[best]
    expect(scale).toBeGreaterThan(0)
    for (let v = 0; v < V; v++) expect(Math.abs(logits[v] - scale * projected[v])).toBeLessThan(1e-3 * Math.max(1, Math.abs(logits[v])))
  })

  it("batched with prefills, decodes and other embeddings, chunked in small steps: bit-identical to alone", () => {
    const rand = prng(2027)
    const embeds = Array.from({ length: 6 }, (_, i) => ({ id: `e${i}`, prompt: randomPrompt(rand, 10 + Math.floor(rand() * 120)), pooling: (i % 2 === 0 ? "mean" : "last") as PoolingType }))
    const gens = Array.from({ length: 4 }, (_, i) => ({ id: `g${i}`, prompt: randomPrompt(rand, 5 + Math.floor(rand() * 60)) }))
    const { core, executor } = makeCore({ maxNumBatchedTokens: 48, longPrefill: 20 })
    for (const g of gens) core.add({ id: g.id, promptTokenIds: g.prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 12, ignoreEos: true }) })
    for (const e of embeds) core.add({ id: e.id, promptTokenIds: e.prompt, params: defaultSamplingParams({ maxTokens: 1 }), pooling: e.pooling })
    const outputs = run(core, executor, [...embeds, ...gens].map((r) => r.id))
    for (const e of embeds) {
      const got = outputs.get(e.id)!
      expect(got).toHaveLength(1)
      expect(got[0].embedding).toEqual(embedAlone(e.prompt, e.pooling).embedding)
    }
    for (const g of gens) expect(outputs.get(g.id)!.flatMap((o) => o.tokenIds)).toHaveLength(12)
    expect(core.kv.pool.usage).toBe(0)
    core.checkInvariants()
  })

  it("an embedding preempted mid-prefill (KV blocks short) starts its pooling over: the same vector as alone", () => {
    const rand = prng(2028)
    const gens = Array.from({ length: 4 }, (_, i) => ({ id: `g${i}`, prompt: randomPrompt(rand, 40) }))
    const embeds = Array.from({ length: 4 }, (_, i) => ({ id: `e${i}`, prompt: randomPrompt(rand, 150), pooling: (i % 2 === 0 ? "mean" : "last") as PoolingType }))
    // 30 blocks of 16 tokens: four 100-token generations and four 150-token prompts do not fit at once.
    const { core, executor } = makeCore({ maxNumBatchedTokens: 32, longPrefill: 16, numBlocks: 31 })
    for (const g of gens) core.add({ id: g.id, promptTokenIds: g.prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 60, ignoreEos: true }) })
    for (const e of embeds) core.add({ id: e.id, promptTokenIds: e.prompt, params: defaultSamplingParams({ maxTokens: 1 }), pooling: e.pooling })
    const outputs = run(core, executor, [...gens, ...embeds].map((r) => r.id))
    expect(core.stats().numPreemptions).toBeGreaterThan(0)
    for (const e of embeds) expect(outputs.get(e.id)![0].embedding).toEqual(embedAlone(e.prompt, e.pooling).embedding)
    core.checkInvariants()
  })

  it("a prompt whose prefix is in the prefix cache is still embedded from every token (no cache hit for embeddings)", () => {
    const prompt = randomPrompt(prng(3), 70)
    const want = embedAlone(prompt, "mean")
    const { core, executor } = makeCore({ maxNumBatchedTokens: 2048 })
    core.add({ id: "g", promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 2, ignoreEos: true }) })
    run(core, executor, ["g"])
    core.add({ id: "e", promptTokenIds: prompt, params: defaultSamplingParams({ maxTokens: 1 }), pooling: "mean" })
    const got = run(core, executor, ["e"]).get("e")![0]
    expect(got.cachedTokens).toBe(0)
    expect(got.embedding).toEqual(want.embedding)
  })
})
