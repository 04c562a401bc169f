import { createHash, randomBytes } from "node:crypto"

/** Every Inferline key starts with this, so a leaked key is recognisable (and secret scanners can match it). */
export const API_KEY_PREFIX = "sk-inf-"

/** Random base62 characters after the prefix: 43 characters carry ~256 bits. */
const API_KEY_BODY_LENGTH = 43

/** Characters of a key shown in listings: the prefix and 5 random characters, enough to tell keys apart. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 5

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/**
 * What a key presented by a client may look like before we bother hashing and looking it up. Keys are
 * generated with 43 characters; up to 128 are accepted so the format can grow without a migration.
 */
const API_KEY_SHAPE = /^sk-inf-[0-9A-Za-z]{32,128}$/

/** Uniform base62 from random bytes: bytes ≥ 248 (= 4·62) are dropped so `% 62` has no bias. */
const randomBase62 = (length: number): string => {
  let out = ""
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62]
    }
  }
  return out
}

/** A new secret key, `sk-inf-` + 43 base62 characters. Shown to the caller once, then only its hash is kept. */
export const generateApiKey = (): string => API_KEY_PREFIX + randomBase62(API_KEY_BODY_LENGTH)

/** SHA-256 (hex) of a key: what the database stores and what lookups and the cache are keyed by. */
export const hashApiKey = (key: string): string => createHash("sha256").update(key, "utf8").digest("hex")

/** The non-secret part of a key shown in listings, e.g. `sk-inf-Ab3xY`. */
export const displayPrefix = (key: string): string => key.slice(0, DISPLAY_PREFIX_LENGTH)

export const looksLikeApiKey = (token: string): boolean => API_KEY_SHAPE.test(token)
