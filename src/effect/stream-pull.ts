import { Cause, Channel, Effect, Pull, Scope, Stream, type Exit } from "effect"

/*
 * Stream combinators for the request path, built on pulls and plain closures. Effect's own `Stream.onExit`
 * and `Stream.concat` make a generator function per call (`Channel.fromTransformBracket`) or keep their
 * operands in a WeakMap, and V8 then keeps what those captured — the request's whole stream — alive
 * through every young-generation GC until a mark-compact (see bench/scavenge-survivors.ts). These do the
 * same with nothing made per call but closures.
 */

/**
 * `Stream.onExit`: `finalizer` runs once with the stream's exit — success when it ends, its failure, or
 * interruption when the consumer stops early.
 */
export const onStreamExit = <E, R2>(finalizer: (exit: Exit.Exit<unknown, E>) => Effect.Effect<void, never, R2>) =>
<A, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E, R | R2> => {
  const transform = Channel.toTransform(Stream.toChannel(self))
  return Stream.fromChannel(Channel.fromTransform((upstream: any, scope: Scope.Scope) => {
    // As Effect's own: a scope of the stream's, closed with its exit when its pull fails or ends.
    const closable = Scope.forkUnsafe(scope)
    const onCause = (cause: Cause.Cause<unknown>) => Scope.close(closable, Pull.doneExitFromCause(cause))
    return Scope.addFinalizerExit(closable, finalizer as (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>).pipe(
      Effect.andThen(transform(upstream, scope)),
      Effect.onError(onCause),
      Effect.map((pull) => Effect.onError(pull, onCause))
    )
  }) as any) as Stream.Stream<A, E, R | R2>
}

/**
 * Opens `self` in `scope` and pulls its first chunk (empty when the stream ended without one); `pull`
 * reads the rest. Channel.toPullScoped, not Stream.toPull: the latter re-provides its context on every
 * pull (copies of the whole service map, twice) and takes a semaphore; these pulls are sequential and run
 * where the context is already right.
 */
export const pullFirst = <A, E, R>(self: Stream.Stream<A, E, R>, scope: Scope.Scope) =>
  Effect.flatMap(Channel.toPullScoped(Stream.toChannel(self), scope), (pull) =>
    Effect.map(Pull.catchDone(pull, () => Effect.succeed([] as ReadonlyArray<A>)), (first) => ({ pull, first })))

/** `Stream.fromIterable(first)` then the chunks of `pull`, as one stream (what `Stream.concat` would make of them). */
export const prependToPull = <A, E, R>(first: ReadonlyArray<A>, pull: Pull.Pull<ReadonlyArray<A>, E, void, R>): Stream.Stream<A, E, R> =>
  Stream.fromPull(Effect.sync(() => {
    let pending = first.length > 0 ? first : undefined
    return Effect.suspend(() => {
      if (pending === undefined) return pull
      const chunk = pending
      pending = undefined
      return Effect.succeed(chunk)
    })
  }) as any) as Stream.Stream<A, E, R>

/** `Stream.concat(self, Stream.succeed(last))`: `last` after the stream's own elements when it ends. */
export const appendOnEnd = <A>(last: A) =>
<E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.fromChannel(Channel.transformPull(Stream.toChannel(self), (pull: any) =>
    Effect.sync(() => {
      let ended: { readonly leftover: unknown } | undefined
      return Effect.suspend(() =>
        ended !== undefined
          ? Cause.done(ended.leftover)
          : Pull.catchDone(pull, (leftover) => {
            ended = { leftover }
            return Effect.succeed([last])
          })
      )
    })) as any) as Stream.Stream<A, E, R>

/**
 * When `self` ends, `verdict()` decides whether that end is a proper one: undefined ends the stream
 * as usual, an error fails it instead (a stream cut short that must not pass as complete).
 */
export const failOnEnd = <E2>(verdict: () => E2 | undefined) =>
<A, E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E | E2, R> =>
  Stream.fromChannel(Channel.transformPull(Stream.toChannel(self), (pull: any) =>
    Effect.succeed(Pull.catchDone(pull, (leftover: unknown): Effect.Effect<never, any> => {
      const error = verdict()
      return error === undefined ? Cause.done(leftover) : Effect.fail(error)
    }))) as any) as Stream.Stream<A, E | E2, R>
