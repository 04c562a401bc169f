import { describe, expect, it } from "vitest"
import { blockChecksum } from "../../../src/engine/kv-transfer/block-checksum.ts"
import { InProcessKvConnector } from "../../../src/engine/kv-transfer/in-process-connector.ts"
import type { KvTransfer } from "../../../src/engine/kv-transfer/kv-transfer.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { defaultSamplingParams, type SamplingParams } from "../../../src/engine/sampling-params.ts"
import { arrivalEvents, coreWithCache, expectColocatedTokens, runColocated, runPair } from "../../support/disaggregated-pair.ts"
import { bundledModelDir } from "../../support/models.ts"
import { prng } from "../../support/random-model.ts"
import { prefixedPrompt, randomArrivals } from "../../support/arrivals.ts"

// Prefill on one engine core, decode on another, the KV handed over in process: every request gets the
// tokens (and text) it gets from one colocated engine, under load and with seeded sampling.
const model = loadModelDir(bundledModelDir)
const V = model.config.vocabSize
const tok = model.tokenizer!
const verse = tok.encode("And God said, Let there be light: and there was light. And God saw the light, that it was good")
const greedy = (maxTokens: number): SamplingParams => defaultSamplingParams({ temperature: 0, maxTokens, ignoreEos: true })

describe("disaggregated prefill/decode in process", () => {
  it("exactness under load: random arrivals, lengths, aborts on both sides, preemptions on the decode side", async () => {
    const rand = prng(2121)
    const specs = randomArrivals(rand, () => prefixedPrompt(rand, verse, 3, 40, V), { count: 20, idPrefix: "r", minTokens: 2, tokenSpan: 40, arriveWithin: 30, abortChance: 0.25, abortWithin: 50 })
    const prefill = coreWithCache(model, 24, { scheduler: { maxNumBatchedTokens: 128, longPrefillTokenThreshold: 40 } })
    // A decode pool too small for every sequence at once: it preempts, and recomputes the preempted ones.
    const decode = coreWithCache(model, 14)
    const connector = new InProcessKvConnector()
    const run = await runPair(prefill, decode, connector, arrivalEvents(specs), 50)
    expect(specs.some((s) => !run.finished.has(s.id))).toBe(true)
    expect(decode.core.scheduler.numPreemptions).toBeGreaterThan(0)
    expect(expectColocatedTokens(model, specs, run)).toBeGreaterThan(10)
    // Blocks freed on both sides; nothing left pending between them.
    expect(prefill.core.kv.pool.usage).toBe(0)
    expect(decode.core.kv.pool.usage).toBe(0)
    expect(connector.pending.size).toBe(0)
  })

  it("a decode side that speculates (n-gram) still gives the colocated tokens", async () => {
    // A prompt the model continues by repeating it: drafts copied from it get accepted.
    const v = "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep."
    const prompt = tok.encode([v, v, v.slice(0, 40)].join(" "))
    const params = greedy(40)
    const decode = coreWithCache(model, 32, { core: { speculative: { method: "ngram", numSpeculativeTokens: 4, promptLookupMin: 2, promptLookupMax: 4, disableByBatchSize: null } } })
    const run = await runPair(coreWithCache(model, 32), decode, new InProcessKvConnector(), (step, add) => {
      if (step === 0) add({ id: "n", promptTokenIds: prompt, params })
    }, 0)
    expect(run.tokens.get("n")).toEqual(runColocated(model, { id: "n", promptTokenIds: prompt, params }).tokens)
    expect(decode.core.stats().specDecode!.numAcceptedTokens).toBeGreaterThan(0)
  })

  it("seeded sampling with penalties, min_tokens and a stop string: same tokens and text as colocated", async () => {
    const prompt = tok.encode("In the beginning God created the heaven and the earth.")
    for (const seed of [1, 7, 42]) {
      const params = defaultSamplingParams({ temperature: 0.9, topP: 0.95, seed, maxTokens: 40, minTokens: 3, repetitionPenalty: 1.2, frequencyPenalty: 0.3, stop: ["LORD"] })
      const alone = runColocated(model, { id: "s", promptTokenIds: prompt, params })
      const run = await runPair(coreWithCache(model, 32), coreWithCache(model, 32), new InProcessKvConnector(), (step, add) => {
        if (step === 0) add({ id: "s", promptTokenIds: prompt, params })
      }, 0)
      expect(run.tokens.get("s"), `seed ${seed}`).toEqual(alone.tokens)
      expect(run.text.get("s"), `seed ${seed}`).toEqual(alone.text)
      expect(alone.tokens.length).toBeGreaterThan(1)
    }
  })

  it("the decode side reuses its own prefix-cache hits instead of the transferred blocks, and caches only full prompt blocks", async () => {
    const prompt = [...verse, ...verse].slice(0, 40) // 2 full blocks of 16 and 8 tokens
    const params = greedy(12)
    const expected = runColocated(model, { id: "x", promptTokenIds: prompt, params }).tokens
    const prefill = coreWithCache(model, 16), decode = coreWithCache(model, 16)
    // The decode side has served this prompt before: its first two blocks are in its prefix cache.
    decode.core.add({ id: "warm", promptTokenIds: prompt, params: greedy(1) })
    while (decode.core.has("warm")) decode.core.step(decode.executor, 0)
    const hitsBefore = decode.core.kv.prefixCacheHits
    prefill.core.add({ id: "x", promptTokenIds: prompt, params, kvExport: "t" })
    const out = prefill.core.step(prefill.executor, 0)
    const t = out[0].kvTransfer!
    expect(t.blocks.length).toBe(3)
    expect(prefill.core.kv.pool.usage).toBe(0)
    // Garbage (with a valid checksum) in the blocks the decode side has: used, it would change the output.
    const zeroed = new Uint8Array(t.blocks[0].bytes.length)
    const tampered: KvTransfer = { ...t, blocks: t.blocks.map((b, i) => (i < 2 ? { bytes: zeroed, checksum: blockChecksum(zeroed) } : b)) }
    decode.core.add({ id: "x", promptTokenIds: prompt, params, kvImport: tampered })
    const tokens = [...out[0].tokenIds]
    const first = decode.core.step(decode.executor, 0)
    tokens.push(...first.flatMap((o) => o.tokenIds))
    // Usage reports the prefill side's cache hits (none), not the decode side's reuse.
    expect(first[0].cachedTokens).toBe(t.cachedTokens)
    expect(t.cachedTokens).toBe(0)
    expect(decode.core.kv.prefixCacheHits - hitsBefore).toBe(32)
    expect(decode.core.stats().kvTransfer).toMatchObject({ imports: 1, reusedBlocks: 2, importedBytes: t.blocks[2].bytes.length })
    expect(prefill.core.stats().kvTransfer).toMatchObject({ exports: 1, exportedBytes: 3 * t.blocks[0].bytes.length })
    const r = decode.core.scheduler.running[0]
    // Blocks 0 and 1 are full prompt blocks; block 2 (8 prompt tokens + 2 generated) is not full yet.
    expect(r.blocks.slice(0, 2).every((b) => b.hash !== null)).toBe(true)
    expect(r.blocks[2].hash).toBeNull()
    while (decode.core.has("x")) tokens.push(...decode.core.step(decode.executor, 0).flatMap((o) => o.tokenIds))
    expect(tokens).toEqual(expected)
    decode.core.checkInvariants()
  })

  it("refuses, by name, a transfer for another prompt or model shape, and a request with prompt_logprobs", () => {
    const prompt = verse.slice(0, 20)
    const prefill = coreWithCache(model, 16)
    prefill.core.add({ id: "x", promptTokenIds: prompt, params: greedy(5), kvExport: "t" })
    const t = prefill.core.step(prefill.executor, 0)[0].kvTransfer!
    const decode = coreWithCache(model, 16)
    expect(() => decode.core.add({ id: "a", promptTokenIds: verse.slice(0, 21), params: greedy(5), kvImport: t })).toThrow(/another prompt/)
    expect(() => decode.core.add({ id: "b", promptTokenIds: prompt, params: greedy(5), kvImport: { ...t, geometry: { ...t.geometry, blockSize: 8 } } })).toThrow(/blockSize is 8/)
    expect(() => decode.core.add({ id: "c", promptTokenIds: prompt, params: defaultSamplingParams({ maxTokens: 5, promptLogprobs: 1 }), kvImport: t })).toThrow(/prompt_logprobs/)
    expect(() => decode.core.add({ id: "d", promptTokenIds: prompt, params: greedy(1), kvImport: t })).toThrow(/already ends/)
    const plain = coreWithCache(model, 16, { core: { kvBlocks: null } })
    expect(() => plain.core.add({ id: "e", promptTokenIds: prompt, params: greedy(5), kvImport: t })).toThrow(/no KV connector/)
    expect(decode.core.numLive).toBe(0)
    expect(decode.core.kv.pool.usage).toBe(0)
  })
})
