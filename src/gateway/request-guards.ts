import { Effect } from "effect"
import { requestTooLarge, type GatewayError } from "./errors.ts"
import type { Principal } from "./principal.ts"

/** The smallest of the limits that are set, or undefined when none is. */
const tightest = (...limits: ReadonlyArray<number | null | undefined>): number | undefined => {
  const set = limits.filter((l): l is number => l !== null && l !== undefined)
  return set.length === 0 ? undefined : Math.min(...set)
}

/**
 * Per-request size guards: the key's and its team's max_messages / max_prompt_tokens, and gateway-wide
 * defaults that apply to every caller (AuthOff and the master key included). The byte size of bodies is
 * limited earlier, by the HTTP layer's body limit.
 */
export const makeCheckRequest = (defaults: { readonly maxMessages?: number | undefined; readonly maxPromptTokens?: number | undefined }) =>
(principal: Principal, request: { readonly messages?: number | undefined; readonly promptTokens?: number | undefined }): Effect.Effect<void, GatewayError> => {
  const key = principal._tag === "Key" ? principal.key : undefined
  const team = principal._tag === "Key" ? principal.team : null
  const maxMessages = tightest(key?.max_messages, team?.max_messages, defaults.maxMessages)
  if (maxMessages !== undefined && request.messages !== undefined && request.messages > maxMessages) {
    return Effect.fail(requestTooLarge("max_messages", maxMessages, request.messages))
  }
  const maxPromptTokens = tightest(key?.max_prompt_tokens, team?.max_prompt_tokens, defaults.maxPromptTokens)
  if (maxPromptTokens !== undefined && request.promptTokens !== undefined && request.promptTokens > maxPromptTokens) {
    return Effect.fail(requestTooLarge("max_prompt_tokens", maxPromptTokens, request.promptTokens))
  }
  return Effect.void
}
