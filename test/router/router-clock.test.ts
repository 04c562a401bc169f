import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"
import { Engine } from "../../src/actors/engine.ts"
import { parseRouterConfig } from "../../src/router/config.ts"
import { makeRouter } from "../../src/router/router.ts"
import { ProviderError, type Provider } from "../../src/router/providers/provider.ts"
import { UsageMeter } from "../../src/api/usage-meter.ts"

/**
 * The routing loop on virtual time: scripted providers (no network), TestClock for backoff, timeouts
 * and cooldown. `random: () => 0` makes the shuffle keep config order and the jitter its lowest value.
 */
type Step = "ok" | "500" | "hang"

const scripted = (steps: Record<string, Array<Step>>, log: Array<[string, number]>): Provider => {
  const next = (id: string) =>
    Effect.gen(function*() {
      log.push([id, yield* Clock.currentTimeMillis])
      const step = steps[id].length > 1 ? steps[id].shift()! : steps[id][0]
      if (step === "500") return yield* Effect.fail(new ProviderError({ kind: "server", message: `${id} failed` }))
      if (step === "hang") return yield* Effect.never
      return id
    })
  return {
    name: "openai",
    complete: (call) => Effect.map(next(call.deployment.id), (id) => ({ json: { id }, text: undefined })),
    stream: (call) => Effect.map(next(call.deployment.id), (id) => Stream.make(id))
  }
}

const config = (settings: Record<string, unknown>) =>
  parseRouterConfig({
    model_list: [
      { model_name: "g", litellm_params: { model: "openai/a", api_base: "http://a", timeout: 10 }, model_info: { id: "a" } },
      { model_name: "g", litellm_params: { model: "openai/b", api_base: "http://b", timeout: 10 }, model_info: { id: "b" } }
    ],
    router_settings: settings
  })

const request = { kind: "chat" as const, group: "g", body: {}, promptTokens: 1, local: Effect.die("not local"), meter: new UsageMeter(1) }
const noEngine = Effect.provideService(Engine, {} as Engine["Service"])

describe("router on virtual time", () => {
  it.effect("retries back off exponentially (1 s, then 2 s, equal jitter at its lowest: 0.5 s, 1 s)", () =>
    Effect.gen(function*() {
      const log: Array<[string, number]> = []
      const router = makeRouter(config({ num_retries: 3, retry_after: 1, allowed_fails: 10 }), { servedModel: "local", random: () => 0, providers: { openai: scripted({ a: ["500", "ok"], b: ["500"] }, log) } })
      const fiber = yield* Effect.forkChild(noEngine(router.complete(request)))
      yield* TestClock.adjust("10 seconds")
      const routed = yield* Fiber.join(fiber)
      expect(log).toEqual([["a", 0], ["b", 500], ["a", 1500]])
      expect(routed).toMatchObject({ deployment: "a", attempts: 3, value: { json: { id: "a" } } })
    }))

  it.effect("a deployment that does not answer within its timeout is abandoned and the next one tried", () =>
    Effect.gen(function*() {
      const log: Array<[string, number]> = []
      const router = makeRouter(config({ num_retries: 1, retry_after: 0, allowed_fails: 10 }), { servedModel: "local", random: () => 0, providers: { openai: scripted({ a: ["hang"], b: ["ok"] }, log) } })
      const fiber = yield* Effect.forkChild(noEngine(router.complete(request)))
      yield* TestClock.adjust("11 seconds")
      const routed = yield* Fiber.join(fiber)
      expect(log).toEqual([["a", 0], ["b", 10_000]])
      expect(routed.deployment).toBe("b")
    }))

  it.effect("cooldown: entered after allowed_fails is exceeded, left through one half-open probe after cooldown_time", () =>
    Effect.gen(function*() {
      const log: Array<[string, number]> = []
      const steps = { a: ["500", "500", "ok"] as Array<Step>, b: ["ok"] as Array<Step> }
      const router = makeRouter(config({ num_retries: 1, retry_after: 0, allowed_fails: 1, cooldown_time: 30 }), { servedModel: "local", random: () => 0, providers: { openai: scripted(steps, log) } })
      const run = noEngine(router.complete(request))
      expect((yield* run).deployment).toBe("b") // a: failure 1
      expect((yield* run).deployment).toBe("b") // a: failure 2 > allowed_fails: cooldown
      expect(router.deployment("a")!.breaker.state(0)).toBe("open")
      expect((yield* run).attempts).toBe(1) // a skipped
      expect(log.filter(([id]) => id === "a")).toHaveLength(2)
      yield* TestClock.adjust("30 seconds")
      const probe = yield* run
      expect(probe.deployment).toBe("a")
      expect(router.deployment("a")!.breaker.state(30_000)).toBe("closed")
    }))

  it.effect("streams: the time-to-first-chunk timeout (stream_timeout) falls back to the next deployment", () =>
    Effect.gen(function*() {
      const log: Array<[string, number]> = []
      const router = makeRouter(config({ num_retries: 1, retry_after: 0, stream_timeout: 2 }), { servedModel: "local", random: () => 0, providers: { openai: scripted({ a: ["hang"], b: ["ok"] }, log) } })
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.flatMap(noEngine(router.stream(request)), (routed) => Effect.map(Stream.runCollect(routed.value), (chunks) => ({ routed, chunks })))))
      yield* TestClock.adjust("3 seconds")
      const { routed, chunks } = yield* Fiber.join(fiber)
      expect(log).toEqual([["a", 0], ["b", 2000]])
      expect(routed.deployment).toBe("b")
      expect(chunks).toEqual(["b"])
    }))

  it.effect("each attempt is a router.attempt span with deployment, attempt number and outcome", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const router = makeRouter(config({ num_retries: 1, retry_after: 0, allowed_fails: 10 }), {
        servedModel: "local",
        random: () => 0,
        providers: { openai: scripted({ a: ["500"], b: ["500"] }, []) }
      })
      yield* Effect.exit(noEngine(router.complete(request)).pipe(Effect.provideService(Tracer.Tracer, tracer)))
      const attempts = spans.filter((s) => s.name === "router.attempt").map((s) => Object.fromEntries(["inferline.deployment", "inferline.attempt", "inferline.outcome"].map((k) => [k, s.attributes.get(k)])))
      // g has no fallback: after b, there is nowhere left to go, so b's outcome is the final error
      expect(attempts).toEqual([
        { "inferline.deployment": "a", "inferline.attempt": 1, "inferline.outcome": "retry" },
        { "inferline.deployment": "b", "inferline.attempt": 2, "inferline.outcome": "error" }
      ])
    }))
})
