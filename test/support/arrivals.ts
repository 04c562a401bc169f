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
