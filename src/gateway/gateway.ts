import { Clock, Context, Effect, type Scope } from "effect"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { holdersOf, makeAdmit, type Permit } from "./admission.ts"
import { hashApiKey, looksLikeApiKey } from "./api-key.ts"
import { extractCredential } from "./credentials.ts"
import { expiredApiKey, gatewayUnavailable, incorrectApiKey, modelNotAllowed, type GatewayError } from "./errors.ts"
import type { KeyDirectory } from "./key-directory.ts"
import { LimitStore } from "./limits/limit-store.ts"
import { rateLimitHeaders } from "./limits/rate-limit-headers.ts"
import { masterKeyMatcher } from "./master-key.ts"
import { authOff, master, type Principal } from "./principal.ts"
import { makeCheckRequest } from "./request-guards.ts"

export type { Permit } from "./admission.ts"

/** Request headers as Node delivers them: lower-case names. */
export type RequestHeaders = Readonly<Record<string, string | undefined>>

/**
 * The gateway's request path. Call order in a handler: authenticate → authorizeModel (the model name is
 * in the body) → checkRequest → admit (in the request's scope) → respond with permit.headers →
 * permit.settle(actual tokens) when the response is done.
 */
export class Gateway extends Context.Service<Gateway, {
  /** False when no master key is configured: every request is then `AuthOff` and allowed. */
  readonly authEnabled: boolean
  readonly authenticate: (headers: RequestHeaders) => Effect.Effect<Principal, GatewayError>
  /** 403 unless the key's and the team's model lists (empty: all) both allow `model`. */
  readonly authorizeModel: (principal: Principal, model: string) => Effect.Effect<void, GatewayError>
  /** 400 when the request has more messages or prompt tokens than the key, team or gateway allow. */
  readonly checkRequest: (
    principal: Principal,
    request: { readonly messages?: number | undefined; readonly promptTokens?: number | undefined }
  ) => Effect.Effect<void, GatewayError>
  /**
   * Takes a parallel slot, one request and `estimatedTokens` (prompt + max completion) from every limit of
   * the key and its team, atomically; 429 when any would be exceeded. The slot is held until the scope closes.
   */
  readonly admit: (principal: Principal, request: { readonly estimatedTokens: number }) => Effect.Effect<Permit, GatewayError, Scope.Scope>
  /** Current x-ratelimit-* headers for the principal, without taking anything. */
  readonly rateLimitHeaders: (principal: Principal) => Effect.Effect<Record<string, string>>
}>()("inferline/gateway/Gateway") {}

export interface GatewayRequestOptions {
  readonly masterKey?: string | undefined
  /** Gateway-wide caps for every caller; key and team limits can only be tighter. */
  readonly maxMessages?: number | undefined
  readonly maxPromptTokens?: number | undefined
}

export const makeGateway = (directory: KeyDirectory, options: GatewayRequestOptions) =>
  Effect.gen(function*() {
    const store = yield* LimitStore
    // An outage fails every request alike: its errors are logged once per interval, not per request.
    const log = rateLimitedLog()
    const isMaster = options.masterKey === undefined ? undefined : masterKeyMatcher(options.masterKey)

    const authenticate: (headers: RequestHeaders) => Effect.Effect<Principal, GatewayError> = Effect.fnUntraced(function*(headers: RequestHeaders) {
      if (isMaster === undefined) return authOff
      const credential = extractCredential(headers)
      if (!("token" in credential)) return yield* credential
      const { token } = credential
      const tokenHash = hashApiKey(token)
      if (isMaster(tokenHash)) return master
      if (!looksLikeApiKey(token)) return yield* incorrectApiKey()
      // Keys are found by their hash: what is compared is a digest, so timing reveals nothing about
      // any stored key, and the cache never holds a plaintext key.
      const found = yield* directory.lookup(tokenHash).pipe(
        Effect.tapError((e) => log("keys", "Error", `gateway: key store failed (${e.operation}); unknown keys get 503 while it does`, e.cause)),
        Effect.mapError(() => gatewayUnavailable("key store"))
      )
      if (found === undefined || found.key.revoked_at !== null || found.team?.deleted_at != null) return yield* incorrectApiKey()
      const { key, team } = found
      if (key.expires_at !== null && key.expires_at.getTime() <= (yield* Clock.currentTimeMillis)) return yield* expiredApiKey()
      return { _tag: "Key", key, team } as const
    })

    const authorizeModel = (principal: Principal, model: string): Effect.Effect<void, GatewayError> => {
      if (principal._tag !== "Key") return Effect.void
      const { key, team } = principal
      if (key.models.length > 0 && !key.models.includes(model)) return Effect.fail(modelNotAllowed(model, "key"))
      if (team !== null && team.models.length > 0 && !team.models.includes(model)) return Effect.fail(modelNotAllowed(model, "team"))
      return Effect.void
    }

    const currentRateLimitHeaders = (principal: Principal) => {
      const subjects = holdersOf(principal).map((h) => h.subject)
      return subjects.length === 0
        ? Effect.succeed({})
        : store.peek(subjects).pipe(
          Effect.map((usage) => rateLimitHeaders(subjects, usage)),
          Effect.catch((e) => Effect.as(log("peek", "Warning", "gateway: could not read rate-limit usage", e.cause), {}))
        )
    }

    return Gateway.of({
      authEnabled: isMaster !== undefined,
      authenticate,
      authorizeModel,
      checkRequest: makeCheckRequest(options),
      admit: yield* makeAdmit(store, log),
      rateLimitHeaders: currentRateLimitHeaders
    })
  })
