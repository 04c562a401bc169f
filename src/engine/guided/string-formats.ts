/**
 * JSON Schema string formats as regular expressions (full match). Each is a sound subset of what
 * ajv-formats' full mode accepts: every string written validates, though not every valid string can be
 * written (lengths are bounded so generation ends; dates are exact, leap years included). The set is
 * OpenAI's structured-output formats plus uri.
 */
const DATE = String.raw`(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))`
const TIME = String.raw`(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)`
const LABEL = String.raw`[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?`
const N = String.raw`\d{1,4}`
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`

export const STRING_FORMATS: ReadonlyMap<string, string> = new Map([
  ["date", `(?:${DATE})`],
  ["time", TIME],
  ["date-time", `(?:${DATE})T${TIME}`],
  ["duration", `P(?:${N}W|(?:${N}Y)?(?:${N}M)?(?:${N}D)?T(?:${N}H(?:${N}M)?(?:${N}S)?|${N}M(?:${N}S)?|${N}S)|${N}Y(?:${N}M)?(?:${N}D)?|${N}M(?:${N}D)?|${N}D)`],
  ["email", String.raw`[a-z0-9]{1,20}(?:\.[a-z0-9]{1,20}){0,2}@${LABEL}(?:\.${LABEL}){0,2}\.[a-z]{2,6}`],
  ["hostname", `${LABEL}(?:\\.${LABEL}){0,4}`],
  ["ipv4", `${OCTET}(?:\\.${OCTET}){3}`],
  ["ipv6", "(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"],
  ["uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"],
  ["uri", `https?://${LABEL}(?:\\.${LABEL}){0,3}(?:/[a-zA-Z0-9._~-]{1,20}){0,4}`]
])
