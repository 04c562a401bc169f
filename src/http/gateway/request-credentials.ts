import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import { HttpServerRequest } from "effect/http"
import { malformedCredentials, type GatewayError } from "../../gateway/errors.ts"
import type { RequestHeaders } from "../../gateway/gateway.ts"

const CREDENTIAL_HEADERS = new Set(["authorization", "x-api-key"])

/**
 * How many times each credential header occurs in the raw request. Node keeps only the first
 * `Authorization` (and joins repeated `x-api-key`s), so repeats are only visible in rawHeaders; a
 * request that repeats one is refused rather than guessing which one a proxy in front of us honoured.
 */
const repeatedCredentialHeader = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  let raw: ReadonlyArray<string>
  try {
    raw = NodeHttpServerRequest.toIncomingMessage(request).rawHeaders
  } catch {
    return undefined // not a Node request (e.g. an in-memory test client): nothing more to see
  }
  const seen = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (!CREDENTIAL_HEADERS.has(name)) continue
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}

/** The current request's headers for Gateway.authenticate, after refusing repeated credential headers. */
export const requestCredentialHeaders: Effect.Effect<RequestHeaders, GatewayError, HttpServerRequest.HttpServerRequest> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const repeated = repeatedCredentialHeader(request)
  if (repeated !== undefined) return yield* malformedCredentials(`the ${repeated} header appears more than once`)
  return request.headers
})
