import { it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { Engine, type EngineDelta } from "../../src/actors/engine.ts"
import { defaultSamplingParams } from "../../src/engine/sampling-params.ts"
import { fakeEngine, fakeNextToken, type FakeEngineOptions } from "../../src/layers/fake-engine.ts"

// The engine actor over the fake executor: cancellation by interruption, backpressure per sequence,
// stall preemption and resume, all observed through the Engine service.
const VOCAB = 1000
const prompt = (seed: number, n = 10) => Array.from({ length: n }, (_, i) => (seed * 13 + i * 5) % VOCAB)

/** The tokens the fake model produces for a prompt (what any correct engine must stream). */
const expectedTokens = (p: ReadonlyArray<number>, n: number) => {
  const out: Array<number> = []
  let last = p[p.length - 1], pos = p.length - 1
  for (let i = 0; i < n; i++) {
    last = fakeNextToken(last, pos, VOCAB)
    out.push(last)
    pos++
  }
  return out
}

const withEngine = <A, E>(options: FakeEngineOptions, f: (engine: Engine["Service"], steps: { count: number }) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const steps = { count: 0 }
    const engine = yield* fakeEngine({ vocabSize: VOCAB, ...options, onExecute: () => steps.count++ })
    return yield* f(engine, steps)
  })

/** Waits (letting the actor run) until the predicate over the engine's stats holds. */
const until = (engine: Engine["Service"], pred: (s: Effect.Success<Engine["Service"]["stats"]>) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000; i++) {
      if (pred(yield* engine.stats)) return
      yield* Effect.yieldNow
    }
    throw new Error("condition not reached")
  })

const greedy = (maxTokens: number, over = {}) => defaultSamplingParams({ temperature: 0, maxTokens, ignoreEos: true, ...over })

describe("Engine actor", () => {
  it.effect("streams the model's tokens and finishes with length and usage", () =>
    withEngine({}, (engine) =>
      Effect.gen(function*() {
        const p = prompt(1)
        const deltas = yield* Stream.runCollect(engine.generate({ promptTokenIds: p, params: greedy(12) }))
        expect(deltas.flatMap((d) => d.tokenIds)).toEqual(expectedTokens(p, 12))
        const last = deltas[deltas.length - 1]
        expect(last.finishReason).toBe("length")
        expect([last.promptTokens, last.completionTokens]).toEqual([10, 12])
        yield* until(engine, (s) => s.kvCacheUsage === 0)
        yield* engine.checkInvariants
      })))

  it.effect("n > 1 streams every sequence with its index", () =>
    withEngine({}, (engine) =>
      Effect.gen(function*() {
        const deltas = yield* Stream.runCollect(engine.generate({ promptTokenIds: prompt(2), params: greedy(5, { n: 3 }) }))
        for (const i of [0, 1, 2]) expect(deltas.filter((d) => d.index === i).flatMap((d) => d.tokenIds)).toEqual(expectedTokens(prompt(2), 5))
      })))

  it.effect("interrupting the consumer aborts the request and frees its KV blocks", () =>
    withEngine({}, (engine) =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const fiber = yield* engine.generate({ promptTokenIds: prompt(3, 40), params: greedy(100_000) }).pipe(
          Stream.runForEach(() => Deferred.succeed(started, undefined)),
          Effect.forkChild
        )
        yield* Deferred.await(started)
        expect((yield* engine.stats).kvCacheUsage).toBeGreaterThan(0)
        yield* Fiber.interrupt(fiber)
        yield* until(engine, (s) => s.numRequestsRunning === 0 && s.kvCacheUsage === 0)
        yield* engine.checkInvariants
        // Taking a prefix of the stream ends it the same way.
        const few = yield* Stream.runCollect(engine.generate({ promptTokenIds: prompt(4), params: greedy(100_000) }).pipe(Stream.take(3)))
        expect(few.length).toBe(3)
        yield* until(engine, (s) => s.numRequestsRunning === 0 && s.kvCacheUsage === 0)
      })))

  it.effect("refuses with overloaded when too many requests wait", () =>
    withEngine({ maxWaitingRequests: 2, scheduler: { maxNumSeqs: 1 } }, (engine) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const hold = (seed: number) =>
          engine.generate({ promptTokenIds: prompt(seed), params: greedy(1000) }).pipe(Stream.runForEach(() => Deferred.await(gate)), Effect.forkChild)
        yield* hold(1)
        yield* until(engine, (s) => s.numRequestsRunning + s.numRequestsPaused === 1)
        yield* hold(2)
        yield* hold(3)
        yield* until(engine, (s) => s.numRequestsWaiting === 2)
        const error = yield* Stream.runCollect(engine.generate({ promptTokenIds: prompt(4), params: greedy(5) })).pipe(Effect.flip)
        expect(error.reason).toBe("overloaded")
      })))

  it.effect("rejects a prompt that leaves no room to generate", () =>
    withEngine({ maxModelLen: 32 }, (engine) =>
      Effect.gen(function*() {
        const error = yield* Stream.runCollect(engine.generate({ promptTokenIds: prompt(1, 32), params: greedy(5) })).pipe(Effect.flip)
        expect(error.reason).toBe("invalid_request")
        expect(error.message).toContain("32")
      })))

  it.effect("slow reader: a consumer that stops reading pauses only its sequence, holds bounded memory, and resumes exactly", () =>
    Effect.gen(function*() {
      const CAPACITY = 8, TOKENS = 200
      const fastPrompts = [prompt(11), prompt(12), prompt(13)]
      const runFast = (engine: Engine["Service"]) =>
        Effect.forEach(fastPrompts, (p) => Stream.runCollect(engine.generate({ promptTokenIds: p, params: greedy(TOKENS) })), { concurrency: "unbounded" })

      // Baseline: the three fast readers alone.
      const baselineSteps = yield* withEngine({ outputBufferSize: CAPACITY }, (engine, steps) => Effect.map(runFast(engine), () => steps.count))

      yield* withEngine({ outputBufferSize: CAPACITY, scheduler: { stallLimitMs: 1000 } }, (engine, steps) =>
        Effect.gen(function*() {
          const gate = yield* Deferred.make<void>()
          const slowPrompt = prompt(99)
          const slowTokens = yield* Ref.make<Array<number>>([])
          const slow = yield* engine.generate({ promptTokenIds: slowPrompt, params: greedy(TOKENS) }).pipe(
            Stream.runForEach((d: EngineDelta) =>
              Effect.gen(function*() {
                const got = yield* Ref.updateAndGet(slowTokens, (xs) => [...xs, ...d.tokenIds])
                if (got.length === 3) yield* Deferred.await(gate) // the reader stops reading here
              })),
            Effect.forkChild
          )
          yield* until(engine, (s) => s.numRequestsPaused === 1)
          const fast = yield* runFast(engine)
          for (const [i, deltas] of fast.entries()) expect(deltas.flatMap((d) => d.tokenIds)).toEqual(expectedTokens(fastPrompts[i], TOKENS))
          // The fast readers' token rate (tokens per step) is within 10% of their rate without the slow reader.
          expect(steps.count).toBeLessThanOrEqual(Math.ceil(baselineSteps * 1.1))
          // The paused sequence produced no more than what its bounded buffers hold.
          const stats = yield* engine.stats
          expect(stats.generationTokensTotal - 3 * TOKENS).toBeLessThanOrEqual(3 + 2 * (CAPACITY + 1))
          expect(stats.kvCacheUsage).toBeGreaterThan(0) // still holds its blocks while paused

          // Past the stall limit it is preempted: its memory is given back.
          yield* TestClock.adjust("2 seconds")
          yield* until(engine, (s) => s.kvCacheUsage === 0 && s.numPreemptions === 1)
          // The reader returns: the sequence recomputes and produces exactly the tokens it would have.
          yield* Deferred.succeed(gate, undefined)
          yield* Fiber.join(slow)
          expect(yield* Ref.get(slowTokens)).toEqual(expectedTokens(slowPrompt, TOKENS))
          yield* until(engine, (s) => s.kvCacheUsage === 0)
          yield* engine.checkInvariants
        }))
    }))

  it.effect("slow reader with speculation: a step's several tokens never overflow the bounded buffer (none is lost)", () =>
    // Vocabulary 7 makes the fake model's next token depend on the token alone (position * 7 vanishes):
    // the sequence cycles, n-gram lookup drafts it exactly, and each step accepts all 4 drafts, delivering
    // 5 deltas at once into a buffer of 2.
    withEngine({ vocabSize: 7, outputBufferSize: 2, speculative: { method: "ngram", numSpeculativeTokens: 4, promptLookupMin: 2, promptLookupMax: 4, disableByBatchSize: null } }, (engine) =>
      Effect.gen(function*() {
        const TOKENS = 60
        // The cycle 0 1 4 6 5 2, twice, as the prompt.
        const p = [0]
        while (p.length < 12) p.push(fakeNextToken(p[p.length - 1], 0, 7))
        const expected: Array<number> = []
        for (let t = p[p.length - 1], i = 0; i < TOKENS; i++) expected.push((t = fakeNextToken(t, 0, 7)))
        const gate = yield* Deferred.make<void>()
        const got = yield* Ref.make<Array<number>>([])
        const reader = yield* engine.generate({ promptTokenIds: [...p, ...expected.slice(0, 12)], params: greedy(TOKENS - 12) }).pipe(
          Stream.runForEach((d: EngineDelta) =>
            Effect.gen(function*() {
              const n = yield* Ref.updateAndGet(got, (xs) => [...xs, ...d.tokenIds])
              if (n.length === 1) yield* Deferred.await(gate) // the reader stops after its first token
            })),
          Effect.forkChild
        )
        yield* until(engine, (s) => s.numRequestsPaused === 1)
        expect((yield* engine.stats).specDecode!.numAcceptedTokens).toBeGreaterThan(0)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(reader)
        expect(yield* Ref.get(got)).toEqual(expected.slice(12))
        yield* until(engine, (s) => s.kvCacheUsage === 0)
        yield* engine.checkInvariants
      })))
})
