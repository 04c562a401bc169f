import { Effect, Scope, type Exit } from "effect"

/**
 * `Effect.addFinalizer` for the request path. Effect's own re-provides the context it was called in when
 * the finalizer runs, and merging that into the closing fiber's context copies the whole service map
 * (twice) per call: with the server's few dozen services, more than the rest of a request's bookkeeping.
 * These finalizers are closures over what they need; they run in the fiber that closes the scope (the
 * request's own, which has the server's services).
 */
export const addFinalizerExit = (finalizer: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<unknown>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizerExit(scope, finalizer))
