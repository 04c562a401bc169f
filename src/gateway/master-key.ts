import { timingSafeEqual } from "node:crypto"
import { hashApiKey } from "./api-key.ts"

/**
 * Whether a presented token is the master key, given the token's SHA-256 (hex, as hashApiKey computes it
 * once per request). Comparing digests of equal length with timingSafeEqual leaks neither the master
 * key's content nor its length through timing.
 */
export const masterKeyMatcher = (masterKey: string): ((tokenHash: string) => boolean) => {
  const expected = Buffer.from(hashApiKey(masterKey), "hex")
  return (tokenHash) => {
    const presented = Buffer.from(tokenHash, "hex")
    return presented.length === expected.length && timingSafeEqual(presented, expected)
  }
}
