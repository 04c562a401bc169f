import { isIP } from "node:net"
import { Data, Effect } from "effect"

/** Where the server binds when no master key is configured and no host was asked for. */
export const LOOPBACK_HOST = "127.0.0.1"

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: addresses only this machine can reach. */
export const isLoopbackHost = (host: string): boolean => {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (h === "localhost") return true
  if (isIP(h) === 4) return h.startsWith("127.")
  if (isIP(h) === 6) return h === "::1" || /^(0*:)*:?0*1$/.test(h) || /^::ffff:127\./.test(h)
  return false
}

export type BindDecision =
  | { readonly _tag: "Allowed"; readonly host: string; readonly warning?: string }
  | { readonly _tag: "Refused"; readonly message: string }

/**
 * Secure by default: with no master key, keys are off and anyone who can reach the server may use it,
 * so it may only listen on loopback. The CLI calls this before listening; `Refused` must stop startup.
 * `host` is what the user asked for (undefined: the default, loopback without a key).
 */
export const decideBind = (options: { readonly host: string | undefined; readonly masterKeyConfigured: boolean; readonly defaultHost?: string }): BindDecision => {
  if (options.masterKeyConfigured) return { _tag: "Allowed", host: options.host ?? options.defaultHost ?? LOOPBACK_HOST }
  const host = options.host ?? LOOPBACK_HOST
  if (!isLoopbackHost(host)) {
    return {
      _tag: "Refused",
      message: `Refusing to listen on ${host} without a master key: anyone who can reach it could use the server. ` +
        `Set INFERLINE_MASTER_KEY (or --master-key) to turn API keys on, or listen on ${LOOPBACK_HOST}.`
    }
  }
  return {
    _tag: "Allowed",
    host,
    warning: `No master key configured (INFERLINE_MASTER_KEY): API keys are off and every request is allowed; listening on ${host} only.`
  }
}

export class UnsafeBindError extends Data.TaggedError("UnsafeBindError")<{ readonly message: string }> {}

/**
 * decideBind as an Effect for the CLI: the host to listen on, after logging that keys are off when they
 * are; fails with UnsafeBindError (its message says what to do) when the bind would be unsafe.
 */
export const resolveBindHost = (options: Parameters<typeof decideBind>[0]): Effect.Effect<string, UnsafeBindError> => {
  const decision = decideBind(options)
  if (decision._tag === "Refused") return Effect.fail(new UnsafeBindError({ message: decision.message }))
  return decision.warning === undefined ? Effect.succeed(decision.host) : Effect.as(Effect.logWarning(decision.warning), decision.host)
}
