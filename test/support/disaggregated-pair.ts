import { EngineCore, type AddRequestSpec, type EngineCoreOptions, type ModelExecutor, type RequestOutput } from "../../src/engine/engine-core.ts"
import { KvBlockIo } from "../../src/engine/kv-transfer/kv-block-io.ts"
import type { KvConsumer, KvProducer } from "../../src/engine/kv-transfer/kv-connector.ts"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import type { LoadedModel } from "../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { defaultSchedulerConfig, type SchedulerConfig } from "../../src/engine/scheduler.ts"
import { expect } from "vitest"
import type { ArrivalSpec } from "./arrivals.ts"

/** One engine core over its own paged KV cache of the model, with access to the cache's bytes. */
export const coreWithCache = (model: LoadedModel, numBlocks: number, over: { blockSize?: number; scheduler?: Partial<SchedulerConfig>; core?: Partial<EngineCoreOptions> } = {}) => {
  const blockSize = over.blockSize ?? 16
  const cache = new PagedKvCache(model.config, { numBlocks, blockSize, dtype: "f32" })
  const executor: ModelExecutor = { vocabSize: model.config.vocabSize, execute: (batch) => model.model.forward(batch, cache) }
  const core = new EngineCore({
    vocabSize: model.config.vocabSize, blockSize, numBlocks, enablePrefixCaching: true, eosTokenIds: model.generation.eosTokenIds, tokenizer: model.tokenizer,
    kvBlocks: new KvBlockIo(cache),
    scheduler: { ...defaultSchedulerConfig(model.config.maxPositionEmbeddings), ...over.scheduler },
    ...over.core
  })
  return { core, executor, cache }
}

export interface PairRun {
  readonly tokens: Map<string, Array<number>>
  readonly text: Map<string, string>
  readonly finished: Set<string>
}

/**
 * Steps a prefill core and a decode core side by side, as two servers would: a request is added to the
 * prefill core with kvExport; its first output goes to the client and its transfer through the connector;
 * the decode core then gets the same request with the fetched transfer. `events(step)` adds requests
 * (to the prefill core) and aborts them (on whichever side they are).
 */
export const runPair = async (
  prefill: { core: EngineCore; executor: ModelExecutor },
  decode: { core: EngineCore; executor: ModelExecutor },
  connector: KvProducer & KvConsumer,
  events: (step: number, add: (spec: AddRequestSpec) => void, abort: (id: string) => void) => void,
  lastEventStep: number
): Promise<PairRun> => {
  const specs = new Map<string, AddRequestSpec>()
  const tokens = new Map<string, Array<number>>(), text = new Map<string, string>(), finished = new Set<string>()
  const add = (spec: AddRequestSpec) => {
    specs.set(spec.id, spec)
    tokens.set(spec.id, [])
    text.set(spec.id, "")
    prefill.core.add({ ...spec, kvExport: `kv-${spec.id}` })
  }
  const abort = (id: string) => {
    prefill.core.abort(id)
    decode.core.abort(id)
    connector.release(`kv-${id}`)
  }
  const collect = (o: RequestOutput) => {
    tokens.get(o.requestId)!.push(...o.tokenIds)
    text.set(o.requestId, text.get(o.requestId)! + o.text)
  }
  for (let step = 0; step < 5000; step++) {
    events(step, add, abort)
    for (const o of prefill.core.step(prefill.executor, step)) {
      collect(o)
      if (o.kvTransfer === undefined) {
        if (o.finishReason !== null) finished.add(o.requestId)
        continue
      }
      connector.offer(o.kvTransfer)
      decode.core.add({ ...specs.get(o.requestId)!, kvImport: await connector.fetch(o.kvTransfer.transferId) })
    }
    for (const o of decode.core.step(decode.executor, step)) {
      collect(o)
      if (o.finishReason !== null) finished.add(o.requestId)
    }
    prefill.core.checkInvariants()
    decode.core.checkInvariants()
    if (prefill.core.numLive === 0 && decode.core.numLive === 0 && step > lastEventStep) break
  }
  return { tokens, text, finished }
}

/** A request run alone on a fresh colocated core: the reference a disaggregated run must equal. */
export const runColocated = (model: LoadedModel, spec: AddRequestSpec, numBlocks = 64) => {
  const { core, executor } = coreWithCache(model, numBlocks)
  core.add(spec)
  const tokens: Array<number> = []
  let text = ""
  while (core.has(spec.id)) {
    for (const o of core.step(executor, 0)) {
      tokens.push(...o.tokenIds)
      text += o.text
    }
  }
  return { tokens, text }
}

const greedy = (maxTokens: number) => defaultSamplingParams({ temperature: 0, maxTokens, ignoreEos: true })

/** The arrivals workload as runPair's events: each spec's greedy request added at its step, aborted at its abort step. */
export const arrivalEvents = (specs: ReadonlyArray<ArrivalSpec>) =>
  (step: number, add: (spec: AddRequestSpec) => void, abort: (id: string) => void) => {
    for (const s of specs) {
      if (s.arriveAt === step) add({ id: s.id, promptTokenIds: s.prompt, params: greedy(s.maxTokens) })
      if (s.abortAt === step) abort(s.id)
    }
  }

/** Expects every finished request's tokens to equal its colocated run's; returns how many were compared. */
export const expectColocatedTokens = (model: LoadedModel, specs: ReadonlyArray<ArrivalSpec>, run: PairRun): number => {
  let compared = 0
  for (const s of specs) {
    if (!run.finished.has(s.id)) continue
    expect(run.tokens.get(s.id), s.id).toEqual(runColocated(model, { id: s.id, promptTokenIds: s.prompt, params: greedy(s.maxTokens) }).tokens)
    compared++
  }
  return compared
}
