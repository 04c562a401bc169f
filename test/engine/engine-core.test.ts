import { describe, expect, it } from "vitest"
import { EngineCore, type ModelExecutor, type RequestOutput } from "../../src/engine/engine-core.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { loadModelDir } from "../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../../src/engine/scheduler.ts"
import { prng } from "../support/random-model.ts"
import { testModelDir } from "../support/models.ts"
import { randomArrivals, randomToken, runArrivals } from "../support/arrivals.ts"

// The engine core on the real model: batching, chunked prefill, preemption and prefix-cache hits must
// never change a token.
const loaded = loadModelDir(testModelDir())
const V = loaded.config.vocabSize
const BS = 16

const makeCore = (numBlocks: number, over: { maxNumBatchedTokens?: number; prefix?: boolean; longPrefill?: number } = {}) => {
  const cache = new PagedKvCache(loaded.config, { numBlocks, blockSize: BS, dtype: "f32" })
  let computed = 0
  const executor: ModelExecutor = {
    vocabSize: V,
    execute: (batch) => {
      computed += batch.tokenIds.length
      return loaded.model.forward(batch, cache)
    }
  }
  const core = new EngineCore({
    vocabSize: V, blockSize: BS, numBlocks, enablePrefixCaching: over.prefix ?? true, eosTokenIds: [], tokenizer: loaded.tokenizer,
    scheduler: {
      ...defaultSchedulerConfig(loaded.config.maxPositionEmbeddings),
      maxNumBatchedTokens: over.maxNumBatchedTokens ?? 2048,
      longPrefillTokenThreshold: over.longPrefill ?? 0
    }
  })
  return { core, executor, computedTokens: () => computed }
}

const greedy = (maxTokens: number) => defaultSamplingParams({ temperature: 0, maxTokens, ignoreEos: true })

const runAlone = (prompt: ReadonlyArray<number>, maxTokens: number): Array<number> => {
  const { core, executor } = makeCore(Math.ceil((prompt.length + maxTokens) / BS) + 2)
  core.add({ id: "solo", promptTokenIds: prompt, params: greedy(maxTokens) })
  const tokens: Array<number> = []
  for (let guard = 0; core.has("solo") && guard < 10_000; guard++) for (const o of core.step(executor, 0)) tokens.push(...o.tokenIds)
  return tokens
}

describe("engine core on the real model", () => {
  it("exactness under load: 32 requests with random arrival, lengths and aborts, forced preemptions, give the tokens they give alone", () => {
    const rand = prng(2026)
    const prompt = () => Array.from({ length: 5 + Math.floor(rand() * 90) }, () => randomToken(rand, V))
    const specs = randomArrivals(rand, prompt, { count: 32, idPrefix: "r", minTokens: 4, tokenSpan: 28, arriveWithin: 40, abortChance: 0.2, abortWithin: 60 })
    // 40 blocks of 16 tokens cannot hold 32 sequences of up to ~120 tokens: preemption is forced.
    const { core, executor } = makeCore(41, { maxNumBatchedTokens: 256, longPrefill: 48 })
    const { got, finished } = runArrivals(core, executor, specs, greedy)
    const aborted = specs.filter((s) => !finished.has(s.id)).length
    expect(aborted).toBeGreaterThan(0)
    expect(core.scheduler.numPreemptions).toBeGreaterThan(0)
    expect(finished.size).toBeGreaterThan(20)
    for (const s of specs) {
      if (!finished.has(s.id)) continue
      expect(got.get(s.id), s.id).toEqual(runAlone(s.prompt, s.maxTokens))
    }
    // Nothing leaked: every block is back in the free queue.
    expect(core.numLive).toBe(0)
    expect(core.kv.pool.usage).toBe(0)
    core.checkInvariants()
  })

  it("prefix cache: a second request sharing a 1,000-token prefix computes only the uncached tail and reports the cached count", () => {
    const rand = prng(7)
    const prefix = Array.from({ length: 1000 }, () => randomToken(rand, V))
    const { core, executor, computedTokens } = makeCore(200)
    const run = (id: string, prompt: Array<number>): RequestOutput => {
      core.add({ id, promptTokenIds: prompt, params: greedy(1) })
      let last!: RequestOutput
      while (core.has(id)) for (const o of core.step(executor, 0)) last = o
      return last
    }
    const first = run("a", [...prefix, 11, 12, 13])
    expect(first.cachedTokens).toBe(0)
    const before = computedTokens()
    const second = run("b", [...prefix, 21, 22, 23, 24, 25])
    const cached = Math.floor(1000 / BS) * BS // 992: the full blocks of the shared prefix
    expect(second.cachedTokens).toBe(cached)
    expect(computedTokens() - before).toBe(1005 - cached)
    // The cached run produces the same token as a cold one.
    expect(second.tokenIds).toEqual(runAlone([...prefix, 21, 22, 23, 24, 25], 1))
  })

  for (const prefix of [true, false]) {
    it(`n > 1 siblings share the prompt's full blocks (prefix caching ${prefix ? "on" : "off"})`, () => {
      const { core, executor, computedTokens } = makeCore(60, { prefix })
      const prompt = Array.from({ length: 100 }, (_, i) => 3 + ((i * 37) % (V - 3)))
      const params = defaultSamplingParams({ temperature: 1, seed: 5, maxTokens: 4, n: 3 })
      for (let i = 0; i < 3; i++) core.add({ id: `s${i}`, groupId: "s", promptTokenIds: prompt, params, seqIndex: i })
      core.step(executor, 0)
      // One full prefill (100) + two tails (100 - 96 cached = 4 each).
      expect(computedTokens()).toBe(108)
      while (core.numLive > 0) core.step(executor, 0)
      // Another request with the same prompt shares only when prefix caching is on.
      const before = computedTokens()
      core.add({ id: "later", promptTokenIds: prompt, params: greedy(1) })
      core.step(executor, 0)
      expect(computedTokens() - before).toBe(prefix ? 4 : 100)
      core.checkInvariants()
    })
  }
})
