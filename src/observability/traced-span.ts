import { Effect, type Fiber, Tracer } from "effect"

/**
 * `Effect.withSpan` for the request path, made free when nothing would see the span: with Effect's
 * native tracer (no exporter configured) spans are unobservable, and each would still cost a span
 * object and two context entries per request. With a real tracer (OTLP, a test exporter) it is exactly
 * `Effect.withSpan` without a stack trace (an Error per span costs more than the span).
 */
export const withTracedSpan = (name: string, options?: Tracer.SpanOptionsNoTrace) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    isTraced(fiber) ? Effect.withSpan(name, options, NO_STACK)(self) : self
  )

/** `Effect.withParentSpan` under the same rule: with the native tracer, no span of ours is current anyway. */
export const withTracedParent = (span: Tracer.AnySpan) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => (isTraced(fiber) ? Effect.withParentSpan(self, span, NO_STACK) : self))

/** Whether spans go anywhere: the rule the combinators above follow, for code that builds its own spans. */
export const spansRecorded: Effect.Effect<boolean> = Effect.withFiber((fiber) => Effect.succeed(isTraced(fiber)))

const NO_STACK = { captureStackTrace: false } as const

function isTraced(fiber: Fiber.Fiber<unknown, unknown>): boolean {
  return fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer
}
