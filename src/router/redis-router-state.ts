import { Duration, Effect, Layer, Queue } from "effect"
import { Redis } from "effect/persistence"
import { RouterSharedState, type RouterSharedStateService } from "./shared-state.ts"

const PREFIX = "inferline:router"
const COOLDOWN_CHANNEL = `${PREFIX}:cooldown`
/** A shared-state command that takes longer is given up: the replica routes on its own state. */
const TIMEOUT = Duration.millis(250)
/** Minute counters outlive their minute a little, for replicas whose clocks differ slightly. */
const COUNTER_TTL_MS = "120000"

/** Drops expired slots, then takes one if fewer than the cap are held: 1 taken, 0 full. Redis's clock. */
const ACQUIRE_SLOT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

/** Extends held slots (only those still held: XX). */
const REFRESH_SLOTS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return 1`

/** INCRBY and PEXPIRE in one round trip; returns the new count. */
const INCREMENT = "local n = redis.call('INCRBY', KEYS[1], ARGV[1]); redis.call('PEXPIRE', KEYS[1], ARGV[2]); return n"

const asNumber = (x: unknown): number | undefined => {
  const n = typeof x === "number" ? x : typeof x === "string" ? Number(x) : NaN
  return Number.isFinite(n) ? n : undefined
}

/**
 * The router's shared state in Redis: cooldowns as keys (`inferline:router:cooldown:<id>`, expiring with
 * the cooldown, for replicas that start later) announced on a pub/sub channel (the others honour them
 * within milliseconds), and per-minute counters (`inferline:router:rpm|tpm:<id>:<minute>`).
 */
export const redisRouterStateLayer = Layer.effect(RouterSharedState, Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const quietly = <A>(what: string, effect: Effect.Effect<A, unknown>) =>
    effect.pipe(
      Effect.timeout(TIMEOUT),
      Effect.map((a): A | undefined => a),
      Effect.catchCause((cause) => Effect.as(Effect.logDebug(`router: shared state unavailable (${what}); using this replica's own`, cause), undefined))
    )
  const increment = (key: string, by: number) =>
    Effect.map(quietly("count", redis.send("EVAL", INCREMENT, "1", key, String(by), COUNTER_TTL_MS)), asNumber)
  return {
    publishCooldown: (id, until) =>
      Effect.asVoid(quietly("cooldown", Effect.andThen(
        redis.send("SET", `${PREFIX}:cooldown:${id}`, String(until), "PX", String(Math.max(1, until - Date.now()))),
        redis.send("PUBLISH", COOLDOWN_CHANNEL, `${until} ${id}`)
      ))),
    listenCooldowns: (ids, onCooldown) =>
      Effect.gen(function*() {
        const messages = yield* redis.subscribe(COOLDOWN_CHANNEL)
        // Cooldowns entered before this replica started (their keys expire with them).
        for (const id of ids) {
          const until = asNumber(yield* quietly("cooldown", redis.send("GET", `${PREFIX}:cooldown:${id}`)))
          if (until !== undefined) onCooldown(id, until)
        }
        yield* Effect.forkScoped(Effect.forever(Effect.map(Queue.take(messages), (m) => {
          const space = m.message.indexOf(" ")
          const until = asNumber(m.message.slice(0, space))
          if (space > 0 && until !== undefined) onCooldown(m.message.slice(space + 1), until)
        })).pipe(Effect.catchCause((cause) => Effect.logWarning("router: the shared cooldown channel closed; replicas now cool deployments down on their own", cause))))
      }),
    countRequest: (id, minute) => increment(`${PREFIX}:rpm:${id}:${minute}`, 1),
    countTokens: (id, minute, tokens) => increment(`${PREFIX}:tpm:${id}:${minute}`, tokens),
    acquireSlot: (id, lease, cap, ttlMs) =>
      Effect.map(quietly("parallel", redis.send("EVAL", ACQUIRE_SLOT, "1", `${PREFIX}:par:${id}`, lease, String(cap), String(ttlMs))), (r) => {
        const n = asNumber(r)
        return n === undefined ? undefined : n === 1
      }),
    refreshSlots: (slots, ttlMs) =>
      slots.length === 0
        ? Effect.void
        : Effect.asVoid(quietly("parallel", redis.send("EVAL", REFRESH_SLOTS, String(slots.length), ...slots.map((s) => `${PREFIX}:par:${s.deploymentId}`), String(ttlMs), ...slots.map((s) => s.leaseId)))),
    releaseSlot: (id, lease) => Effect.asVoid(quietly("parallel", redis.send("ZREM", `${PREFIX}:par:${id}`, lease)))
  } satisfies RouterSharedStateService
}))
