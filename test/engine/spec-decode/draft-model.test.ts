import { describe, expect, it } from "vitest"
import { PagedKvCache } from "../../../src/engine/kv-cache.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import type { SpeculativeConfig } from "../../../src/engine/spec-decode/config.ts"
import { DraftModelProposer } from "../../../src/engine/spec-decode/draft-proposer.ts"
import { EngineCore } from "../../../src/engine/engine-core.ts"
import { defaultSchedulerConfig } from "../../../src/engine/scheduler.ts"
import { prng } from "../../support/random-model.ts"
import { bundledModelDir, draftModelDir } from "../../support/models.ts"
import { prefixedPrompt, randomArrivals, runArrivals } from "../../support/arrivals.ts"
import { greedy, speculativeCores } from "../../support/spec-decode-core.ts"

// The bundled draft model proposes, the bundled model verifies: under load (random arrivals, lengths,
// aborts, forced preemptions) every request gets the tokens plain decoding gives it alone.
const target = loadModelDir(bundledModelDir)
const draft = loadModelDir(draftModelDir)
const V = target.config.vocabSize
const BS = 16
const DRAFT: SpeculativeConfig = { method: "draft_model", model: draftModelDir, numSpeculativeTokens: 4, promptLookupMin: 5, promptLookupMax: 5, disableByBatchSize: null }

const { makeCore, runAlone } = speculativeCores(target, BS, draft)

describe("speculative decoding with the bundled draft model", () => {
  it("exactness under load: random arrivals/lengths/aborts, forced preemptions, a draft cache smaller than the target.s", () => {
    const rand = prng(2122)
    const verse = target.tokenizer!.encode("And God said, Let there be light: and there was light. And God saw the light, that it was good")
    const specs = randomArrivals(rand, () => prefixedPrompt(rand, verse, 5, 30, V), { count: 24, idPrefix: "r", minTokens: 4, tokenSpan: 40, arriveWithin: 30, abortChance: 0.2, abortWithin: 50 })
    const { core, executor } = makeCore(25, DRAFT, { maxNumBatchedTokens: 256, longPrefill: 48, draftBlocks: 20 })
    const { got, finished } = runArrivals(core, executor, specs, greedy)
    const st = core.stats().specDecode!
    expect(specs.some((s) => !finished.has(s.id))).toBe(true)
    expect(core.scheduler.numPreemptions).toBeGreaterThan(0)
    expect(st.numAcceptedTokens).toBeGreaterThan(0)
    expect(st.numAcceptedTokens).toBeLessThan(st.numDraftTokens)
    for (const s of specs) {
      if (!finished.has(s.id)) continue
      expect(got.get(s.id), s.id).toEqual(runAlone(s.prompt, greedy(s.maxTokens), null).tokens)
    }
    expect(core.kv.pool.usage).toBe(0)
  })

  it("seeded sampling gives the same tokens with and without the draft model", () => {
    const prompt = target.tokenizer!.encode("In the beginning God created the heaven and the earth.")
    for (const seed of [1, 2]) {
      const params = defaultSamplingParams({ temperature: 0.5, seed, maxTokens: 30, ignoreEos: true })
      const spec = runAlone(prompt, params, DRAFT)
      expect(spec.tokens).toEqual(runAlone(prompt, params, null).tokens)
      expect(spec.stats.specDecode!.numAcceptedTokens).toBeGreaterThan(0)
    }
  })

  it("drafts computed ahead, while the target verifies, are taken only where every draft and the guess after them held, and equal fresh drafts", () => {
    // As the engine actor runs it with the worker executor: proposeAhead between planning a step and completing it.
    const numBlocks = 64
    const cache = new PagedKvCache(target.config, { numBlocks, blockSize: BS, dtype: "f32" })
    const draftCache = new PagedKvCache(draft.config, { numBlocks, blockSize: BS, dtype: "f32" })
    let draftPasses = 0
    const proposer = new DraftModelProposer({ vocabSize: V, numBlocks, blockSize: BS, execute: (b) => (draftPasses++, draft.model.forward(b, draftCache)) })
    const core = new EngineCore({ vocabSize: V, blockSize: BS, numBlocks, enablePrefixCaching: true, eosTokenIds: [], tokenizer: target.tokenizer, speculative: DRAFT, draftProposer: proposer, scheduler: defaultSchedulerConfig(target.config.maxPositionEmbeddings) })
    const prompts = ["And God said, Let there be light: and there was light.", "In the beginning God created the heaven and the earth."].map((t) => target.tokenizer!.encode(t))
    prompts.forEach((p, i) => core.add({ id: `s${i}`, promptTokenIds: p, params: greedy(50) }))
    const got = new Map<string, Array<number>>()
    let taken = 0, verifications = 0
    for (let plan = core.prepareStep(0); plan !== null; plan = core.prepareStep(0)) {
      core.proposeAhead(plan)
      const logits = target.model.forward(plan.batch, cache)
      const before = draftPasses
      for (const o of core.completeStep(plan, logits)) got.set(o.requestId, [...(got.get(o.requestId) ?? []), ...o.tokenIds])
      verifications += plan.chunks.filter((c) => c.numSpecTokens > 0).length
      // No draft pass after the step: every sequence's drafts were computed ahead.
      const running = core.scheduler.running.filter((r) => r.specTokenIds.length > 0)
      if (running.length > 0 && draftPasses === before) taken++
      for (const r of running) {
        const freshCache = new PagedKvCache(draft.config, { numBlocks: 16, blockSize: BS, dtype: "f32" })
        const fresh = new DraftModelProposer({ vocabSize: V, numBlocks: 16, blockSize: BS, execute: (b) => draft.model.forward(b, freshCache) })
        expect(fresh.propose([{ req: r, maxDraft: r.specTokenIds.length }]).get(r)).toEqual(r.specTokenIds)
      }
    }
    expect(taken).toBeGreaterThan(0)
    expect(taken).toBeLessThan(verifications)
    prompts.forEach((p, i) => expect(got.get(`s${i}`)).toEqual(runAlone(p, greedy(50), null).tokens))
  })

  it("a proposer made with ahead: false drafts nothing ahead: every step's drafts come from passes after it", () => {
    const numBlocks = 64
    const cache = new PagedKvCache(target.config, { numBlocks, blockSize: BS, dtype: "f32" })
    const draftCache = new PagedKvCache(draft.config, { numBlocks, blockSize: BS, dtype: "f32" })
    let draftPasses = 0, aheadPasses = 0, verifications = 0
    const proposer = new DraftModelProposer({ vocabSize: V, numBlocks, blockSize: BS, execute: (b) => (draftPasses++, draft.model.forward(b, draftCache)) }, { ahead: false })
    const core = new EngineCore({ vocabSize: V, blockSize: BS, numBlocks, enablePrefixCaching: true, eosTokenIds: [], tokenizer: target.tokenizer, speculative: DRAFT, draftProposer: proposer, scheduler: defaultSchedulerConfig(target.config.maxPositionEmbeddings) })
    const prompt = target.tokenizer!.encode("And God said, Let there be light: and there was light.")
    core.add({ id: "a", promptTokenIds: prompt, params: greedy(40) })
    const got: Array<number> = []
    for (let plan = core.prepareStep(0); plan !== null; plan = core.prepareStep(0)) {
      const before = draftPasses
      core.proposeAhead(plan)
      aheadPasses += draftPasses - before
      verifications += plan.chunks.filter((c) => c.numSpecTokens > 0).length
      for (const o of core.completeStep(plan, target.model.forward(plan.batch, cache))) got.push(...o.tokenIds)
    }
    expect(verifications).toBeGreaterThan(0)
    expect(aheadPasses).toBe(0)
    expect(got).toEqual(runAlone(prompt, greedy(40), null).tokens)
  })

  it("the draft's cache is exact: after rejections and plain steps, its drafts equal a fresh draft's from the whole sequence", () => {
    // Past one running sequence no drafts: while "b" runs, "a" decodes plainly past the drafts its
    // draft cache last held, which must then be recomputed, not reused.
    const { core, executor } = makeCore(64, { ...DRAFT, disableByBatchSize: 1 })
    const prompt = target.tokenizer!.encode("And God said, Let there be light: and there was light.")
    core.add({ id: "a", promptTokenIds: prompt, params: greedy(60) })
    let compared = 0
    for (let step = 0; core.numLive > 0; step++) {
      if (step === 3) core.add({ id: "b", promptTokenIds: prompt.slice(0, 7), params: greedy(12) })
      core.step(executor, 0)
      for (const r of core.scheduler.running) {
        if (r.specTokenIds.length === 0) continue
        const freshCache = new PagedKvCache(draft.config, { numBlocks: 16, blockSize: BS, dtype: "f32" })
        const fresh = new DraftModelProposer({ vocabSize: V, numBlocks: 16, blockSize: BS, execute: (b) => draft.model.forward(b, freshCache) })
        expect(fresh.propose([{ req: r, maxDraft: r.specTokenIds.length }]).get(r)).toEqual(r.specTokenIds)
        compared++
      }
    }
    const st = core.stats().specDecode!
    expect(compared).toBeGreaterThan(10)
    expect(st.numAcceptedTokens).toBeGreaterThan(0)
    expect(st.numAcceptedTokens).toBeLessThan(st.numDraftTokens)
  })
})
