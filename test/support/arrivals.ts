import type { EngineCore, ModelExecutor } from "../../src/engine/engine-core.ts"
import type { SamplingParams } from "../../src/engine/sampling-params.ts"

/** A request of an exactness-under-load workload: its arrival step and (-1: never) abort step. */
export interface ArrivalSpec {
  readonly id: string
  readonly prompt: ReadonlyArray<number>
  readonly maxTokens: number
  readonly arriveAt: number
  readonly abortAt: number
}

/** The shape of a random workload: each draw in [0, n) is uniform. */
export interface WorkloadShape {
  readonly count: number
  /** Request ids are this prefix and the index. */
  readonly idPrefix: string
  /** max_tokens = minTokens + a draw in [0, tokenSpan). */
  readonly minTokens: number
  readonly tokenSpan: number
  /** Arrival step: a draw in [0, arriveWithin). */
  readonly arriveWithin: number
  /** With this probability a request is aborted at a step drawn in [0, abortWithin). */
  readonly abortChance: number
  readonly abortWithin: number
}

/**
 * A seeded random workload for runArrivals and its kin. For each request `prompt` draws first, then
 * max_tokens, the arrival and the abort, in that order (the workloads the tests were tuned on).
 */
export const randomArrivals = (rand: () => number, prompt: () => Array<number>, w: WorkloadShape): Array<ArrivalSpec> =>
  Array.from({ length: w.count }, (_, i) => ({
    id: `${w.idPrefix}${i}`,
    prompt: prompt(),
    maxTokens: w.minTokens + Math.floor(rand() * w.tokenSpan),
    arriveAt: Math.floor(rand() * w.arriveWithin),
    abortAt: rand() < w.abortChance ? Math.floor(rand() * w.abortWithin) : -1
  }))

/** A random token in [3, vocabSize) (0-2 are the special tokens of the test models). */
export const randomToken = (rand: () => number, vocabSize: number) => 3 + Math.floor(rand() * (vocabSize - 3))

/** The first minPrefix.. tokens of `prefix` (a random cut), then up to maxExtra - 1 random tokens. */
export const prefixedPrompt = (rand: () => number, prefix: ReadonlyArray<number>, minPrefix: number, maxExtra: number, vocabSize: number): Array<number> => [
  ...prefix.slice(0, minPrefix + Math.floor(rand() * (prefix.length - minPrefix))),
  ...Array.from({ length: Math.floor(rand() * maxExtra) }, () => randomToken(rand, vocabSize))
]

/**
 * Steps an engine core through a workload: each request added at its arrival step and aborted at its
 * abort step (if still live), the core's invariants checked after every step, until all arrived and none
 * is live. Returns every request's tokens and the ids that finished (the others were aborted).
 */
export const runArrivals = (core: EngineCore, executor: ModelExecutor, specs: ReadonlyArray<ArrivalSpec>, params: (maxTokens: number) => SamplingParams) => {
  const got = new Map<string, Array<number>>()
  const finished = new Set<string>()
  const lastArrival = Math.max(...specs.map((s) => s.arriveAt))
  for (let step = 0; step < 5000; step++) {
    for (const s of specs) {
      if (s.arriveAt === step) {
        core.add({ id: s.id, promptTokenIds: s.prompt, params: params(s.maxTokens) })
        got.set(s.id, [])
      }
      if (s.abortAt === step && core.has(s.id)) core.abort(s.id)
    }
    for (const o of core.step(executor, step)) {
      got.get(o.requestId)!.push(...o.tokenIds)
      if (o.finishReason !== null) finished.add(o.requestId)
    }
    core.checkInvariants()
    if (core.numLive === 0 && step > lastArrival) break
  }
  return { got, finished }
}
