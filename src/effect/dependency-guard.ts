import { Cause, Data, Duration, Effect, Exit, Fiber, Option } from "effect"

/** A dependency (Postgres, Redis) did not answer in time, or is known to be down and was not asked. */
export class DependencyUnavailable extends Data.TaggedError("DependencyUnavailable")<{
  readonly dependency: string
  /** "timeout": no answer within the deadline; "down": known down, so not asked (failing fast). */
  readonly reason: "timeout" | "down"
  readonly message: string
}> {}

export interface DependencyGuardOptions {
  /** For messages: "PostgreSQL", "Redis". */
  readonly name: string
  /** Longest a call may take; one that takes longer fails and marks the dependency down. */
  readonly timeout: Duration.Input
  /** While down: how often a probe checks whether it is back (default 1 s). */
  readonly retryInterval?: Duration.Input | undefined
  /**
   * Failures that mean the dependency is unreachable (a refused or dropped connection), besides a
   * timeout. Other failures (a constraint, a syntax error) are the call's own and change nothing.
   */
  readonly isOutage?: ((error: unknown) => boolean) | undefined
  /** A cheap call that succeeds once the dependency is back (SELECT 1, PING). */
  readonly probe: Effect.Effect<unknown, unknown>
}

export interface DependencyGuard {
  readonly name: string
  /**
   * Runs a call to the dependency with the deadline. While the dependency is known down the call is not
   * made: it fails at once with DependencyUnavailable("down"), so requests do not each wait for the
   * timeout; a probe in the background (every `retryInterval`) finds out when it is back.
   */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DependencyUnavailable, R>
  /** Known down right now. */
  readonly isDown: () => boolean
}

/** A guard that guards nothing: runs every call as it is (servers and tests without the dependency's layer). */
export const unguarded = (name: string): DependencyGuard => ({ name, run: (effect) => effect, isDown: () => false })

/**
 * Timeouts and fail-fast for one dependency. A call is run in a fiber of its own and waited for up to
 * the deadline: on expiry the caller fails at once and the call is interrupted in the background (an
 * interrupted Postgres query first drains its connection, which takes up to seconds against a frozen
 * server; the caller must not wait for that). The first timeout or outage failure marks the dependency
 * down (logged once), and from then on callers fail fast until a probe succeeds (logged once, with how
 * long it was down).
 */
export const makeDependencyGuard = (options: DependencyGuardOptions): DependencyGuard => {
  const { name } = options
  const capitalized = name.charAt(0).toUpperCase() + name.slice(1)
  const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.timeout))
  const retryMs = Duration.toMillis(Duration.fromInputUnsafe(options.retryInterval ?? "1 second"))
  const isOutage = options.isOutage ?? (() => false)
  let downSince: number | null = null

  /** Marks the dependency down (logged once) and starts probing it in the background until it answers. */
  const markDown = (why: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (downSince !== null) return Effect.void
      downSince = Date.now()
      return Effect.andThen(
        Effect.logError(`${capitalized} is unavailable (${why}): calls to it fail at once while it is down; checking every ${retryMs} ms whether it is back`),
        Effect.forkDetach(probeUntilBack)
      )
    })
  const markUp: Effect.Effect<void> = Effect.suspend(() => {
    if (downSince === null) return Effect.void
    const seconds = ((Date.now() - downSince) / 1000).toFixed(1)
    downSince = null
    return Effect.logWarning(`${capitalized} is back after ${seconds} s`)
  })

  /**
   * The deadline: the timeout, then one turn of the event loop's I/O poll. When the loop itself was held
   * up past the timeout (a busy process), a reply that arrived meanwhile is read before the deadline
   * counts, so a busy process does not take a healthy dependency for a dead one.
   */
  const deadline = Effect.andThen(Effect.sleep(timeoutMs), afterPendingIo).pipe(Effect.as(Option.none()))

  /** Runs `effect` with the deadline; an outage or a timeout marks the dependency down. */
  const withDeadline = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DependencyUnavailable, R> =>
    Effect.flatMap(Effect.forkDetach(effect), (fiber) =>
      Fiber.await(fiber).pipe(
        Effect.map(Option.some),
        Effect.raceFirst(deadline),
        Effect.onInterrupt(() => Effect.forkDetach(Fiber.interrupt(fiber))),
        Effect.flatMap((result): Effect.Effect<A, E | DependencyUnavailable> => {
          if (Option.isNone(result)) {
            return Effect.forkDetach(Fiber.interrupt(fiber)).pipe(
              Effect.andThen(markDown(`no answer within ${timeoutMs} ms`)),
              Effect.andThen(Effect.fail(new DependencyUnavailable({ dependency: name, reason: "timeout", message: `${name} did not answer within ${timeoutMs} ms` })))
            )
          }
          const exit = result.value
          if (Exit.isSuccess(exit)) return Effect.as(markUp, exit.value)
          const error = Cause.findErrorOption(exit.cause)
          if (Option.isSome(error) && isOutage(error.value)) return Effect.andThen(markDown(describe(error.value)), Effect.failCause(exit.cause))
          return Effect.failCause(exit.cause)
        })
      ))

  /** Every retryMs, the probe (with the deadline) until it succeeds, which marks the dependency up. */
  const probeUntilBack: Effect.Effect<void> = Effect.suspend(() =>
    Effect.sleep(retryMs).pipe(
      Effect.andThen(withDeadline(options.probe)),
      Effect.asVoid,
      Effect.catchCause(() => (downSince === null ? Effect.void : probeUntilBack))
    )
  )

  const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DependencyUnavailable, R> =>
    Effect.suspend(() =>
      downSince === null
        ? withDeadline(effect)
        : Effect.fail(new DependencyUnavailable({ dependency: name, reason: "down", message: `${name} is unavailable` }))
    )

  return { name, run, isDown: () => downSince !== null }
}

/** Resumes in the event loop's check phase, after the I/O that was pending when it was called. */
const afterPendingIo: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** The innermost message of an error's cause chain, for the one log line an outage gets. */
const describe = (error: unknown): string => {
  let message = ""
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const m = (e as { message?: unknown }).message
    if (typeof m === "string" && m !== "") message = m
  }
  return message === "" ? String(error) : message
}
