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

const NO_STACK = { captureStackTrace: false } as const

const isTraced = (fiber: Fiber.Fiber<unknown, unknown>) => fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer
