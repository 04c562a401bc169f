import { Effect, Option } from "effect"
import { HttpServerRequest } from "effect/http"
import { ApiError } from "../api/api-error.ts"
import type { Principal } from "../gateway/principal.ts"
import { type EndUserContext, endUserOf } from "./end-user.ts"
import { requestTags } from "./request-tags.ts"

/** What a request is attributed to beyond its key: its tags and its end user and session (ledger, spans, budgets). */
export interface RequestAttribution {
  /** The request's headers (none when the handler runs outside an HTTP request, as in tests of a layer). */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly tags: ReadonlyArray<string>
  readonly who: EndUserContext
}

const NO_HEADERS: Readonly<Record<string, string | undefined>> = {}

/** The body's and headers' tags and end user, or the 400 naming the field that is wrong. */
export const requestAttribution = (raw: Readonly<Record<string, unknown>>, principal: Principal): Effect.Effect<RequestAttribution, ApiError> =>
  Effect.flatMap(Effect.serviceOption(HttpServerRequest.HttpServerRequest), (httpRequest) => {
    const headers = Option.isSome(httpRequest) ? httpRequest.value.headers : NO_HEADERS
    const tags = requestTags(raw, headers, principal)
    if (tags instanceof ApiError) return Effect.fail(tags)
    const who = endUserOf(raw, headers)
    if (who instanceof ApiError) return Effect.fail(who)
    return Effect.succeed({ headers, tags, who })
  })
