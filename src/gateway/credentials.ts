import { missingApiKey, malformedCredentials, type GatewayError } from "./errors.ts"

/**
 * Longest credential header we look at. Real keys are ~50 characters; a long value is rejected before
 * any hashing or lookup, so oversized headers cost nothing.
 */
export const MAX_CREDENTIAL_LENGTH = 512

/** A token is printable ASCII without spaces: no control characters, no header folding, no smuggled separators. */
const TOKEN = /^[\x21-\x7e]+$/
const BEARER = /^bearer(?: +(.*))?$/i

/**
 * The credential of a request: `Authorization: Bearer <key>` (OpenAI clients) or `x-api-key: <key>`
 * (Anthropic-style clients). Both present must agree, so a proxy that reads one header and a server that
 * reads the other can never disagree about who is calling. Returns the token or why there is none.
 * Header names are lower-case, as Node delivers them.
 */
export const extractCredential = (headers: Readonly<Record<string, string | undefined>>): { readonly token: string } | GatewayError => {
  const authorization = headers["authorization"]
  const apiKey = headers["x-api-key"]
  if (authorization === undefined && apiKey === undefined) return missingApiKey()
  for (const value of [authorization, apiKey]) {
    if (value !== undefined && value.length > MAX_CREDENTIAL_LENGTH) return malformedCredentials("the credential header is too long")
  }
  let bearer: string | undefined
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization.trim())
    if (match === null) return malformedCredentials("the Authorization header must use the Bearer scheme")
    bearer = (match[1] ?? "").trim()
    if (bearer === "") return missingApiKey()
    if (!TOKEN.test(bearer)) return malformedCredentials("the bearer token contains invalid characters")
  }
  let fromApiKey: string | undefined
  if (apiKey !== undefined) {
    fromApiKey = apiKey.trim()
    if (fromApiKey === "") return missingApiKey()
    if (!TOKEN.test(fromApiKey)) return malformedCredentials("the x-api-key header contains invalid characters")
  }
  if (bearer !== undefined && fromApiKey !== undefined && bearer !== fromApiKey) {
    return malformedCredentials("the Authorization and x-api-key headers carry different keys")
  }
  return { token: (bearer ?? fromApiKey)! }
}
