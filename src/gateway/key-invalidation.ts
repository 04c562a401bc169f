import { Context, Duration, Effect, Layer, Queue, type Scope } from "effect"
import { Redis } from "effect/persistence"
import type { KeyDirectory } from "./key-directory.ts"

/** A key or team changed (revoked, patched, deleted): every instance must drop what it cached about it. */
export interface KeyInvalidation {
  readonly kind: "key" | "team"
  readonly id: string
}

/**
 * How instances tell each other about key and team changes. Alone (the default) there is nobody to
 * tell: another instance's cache expires after its TTL (5 s). With REDIS_URL, a Redis channel: a
 * revocation reaches every instance within milliseconds.
 */
export interface KeyInvalidationBusService {
  readonly publish: (change: KeyInvalidation) => Effect.Effect<void>
  /** Calls `onChange` for every change published by any instance, for as long as the scope lasts. */
  readonly listen: (onChange: (change: KeyInvalidation) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
}

export const KeyInvalidationBus = Context.Reference<KeyInvalidationBusService>("inferline/gateway/KeyInvalidationBus", {
  defaultValue: () => ({ publish: () => Effect.void, listen: () => Effect.void })
})

const CHANNEL = "inferline:keys:invalidate"
/** A publish that Redis does not take within this is given up (the TTL still bounds staleness). */
const PUBLISH_TIMEOUT = Duration.millis(500)

const parse = (message: string): KeyInvalidation | undefined => {
  const [kind, id] = [message.slice(0, message.indexOf(":")), message.slice(message.indexOf(":") + 1)]
  return (kind === "key" || kind === "team") && id !== "" ? { kind, id } : undefined
}

/** The bus over Redis pub/sub (needs the Redis service). */
export const redisKeyInvalidationBusLayer = Layer.effect(KeyInvalidationBus, Effect.gen(function*() {
    const redis = yield* Redis.Redis
    return {
      publish: (change) =>
        redis.send("PUBLISH", CHANNEL, `${change.kind}:${change.id}`).pipe(
          Effect.timeout(PUBLISH_TIMEOUT),
          Effect.catchCause((cause) => Effect.logWarning(`gateway: could not publish the change of ${change.kind} ${change.id} to the other instances; they see it within the key cache's TTL`, cause))
        ),
      listen: (onChange) =>
        Effect.gen(function*() {
          const messages = yield* redis.subscribe(CHANNEL)
          const loop: Effect.Effect<void> = Effect.forever(Effect.flatMap(Queue.take(messages), (m) => {
            const change = parse(m.message)
            return change === undefined ? Effect.void : onChange(change)
          })).pipe(Effect.catchCause((cause) => Effect.logWarning("gateway: the key invalidation channel closed; other instances' changes now take up to the key cache's TTL", cause)))
          yield* Effect.forkScoped(loop)
        })
    } satisfies KeyInvalidationBusService
  }))

/**
 * The key directory, with every invalidation also published to the other instances; and this instance
 * listening to theirs (for the life of the layer's scope).
 */
export const sharedKeyDirectory = (directory: KeyDirectory) =>
  Effect.gen(function*() {
    const bus = yield* KeyInvalidationBus
    yield* bus.listen((change) => (change.kind === "key" ? directory.invalidateKey(change.id) : directory.invalidateTeam(change.id)))
    return {
      ...directory,
      invalidateKey: (id: string) => Effect.andThen(directory.invalidateKey(id), bus.publish({ kind: "key", id })),
      invalidateTeam: (id: string) => Effect.andThen(directory.invalidateTeam(id), bus.publish({ kind: "team", id }))
    } satisfies KeyDirectory
  })
