/**
 * Personal data and secrets in text, found by pattern and checked where a checksum exists (cards by
 * Luhn, IBANs by mod 97), so that a random run of digits is not taken for a card.
 */
export type PiiEntity = "email" | "phone" | "credit_card" | "iban" | "national_id" | "ip_address" | "api_key"

export const PII_ENTITIES: ReadonlyArray<PiiEntity> = ["email", "phone", "credit_card", "iban", "national_id", "ip_address", "api_key"]

/** One finding: where in the text, and what. */
export interface PiiMatch {
  readonly entity: PiiEntity
  readonly start: number
  readonly end: number
  readonly value: string
}

/** Luhn's checksum, which every payment card number satisfies. */
export const luhnValid = (digits: string): boolean => {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return sum % 10 === 0
}

/** ISO 13616: move the first four characters to the end, letters to numbers, the whole mod 97 is 1. */
export const ibanValid = (iban: string): boolean => {
  const s = iban.replace(/\s+/g, "").toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false
  const moved = s.slice(4) + s.slice(0, 4)
  let remainder = 0
  for (const ch of moved) {
    const code = ch.charCodeAt(0)
    const value = code >= 65 ? String(code - 55) : ch
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97
  }
  return remainder === 1
}

const ipv4Valid = (s: string) => s.split(".").every((p) => Number(p) <= 255 && String(Number(p)) === p)

interface Detector {
  readonly entity: PiiEntity
  readonly pattern: RegExp
  readonly valid?: (value: string) => boolean
}

// Order matters where patterns overlap: the first detector to claim a span keeps it.
const DETECTORS: ReadonlyArray<Detector> = [
  { entity: "api_key", pattern: /\b(?:sk-(?:proj-|inf-|ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b/g },
  { entity: "email", pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  { entity: "iban", pattern: /\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b/g, valid: ibanValid },
  { entity: "credit_card", pattern: /\b(?:\d[ -]?){12,18}\d\b/g, valid: (v) => luhnValid(v.replace(/[ -]/g, "")) },
  { entity: "national_id", pattern: /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/g },
  { entity: "ip_address", pattern: /\b(?:\d{1,3}\.){3}\d{1,3}\b/g, valid: ipv4Valid },
  { entity: "ip_address", pattern: /\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b/g },
  // Not part of a longer run of digit groups (a card number that failed Luhn is not a phone number).
  { entity: "phone", pattern: /(?<!\d[ .-]?)(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\b\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4}\b(?![ .-]?\d)/g }
]

/** The findings of the wanted entities in `text`, in order, none overlapping. */
export const findPii = (text: string, entities: ReadonlySet<PiiEntity>): Array<PiiMatch> => {
  const found: Array<PiiMatch> = []
  const taken = (start: number, end: number) => found.some((m) => start < m.end && m.start < end)
  for (const d of DETECTORS) {
    if (!entities.has(d.entity)) continue
    for (const m of text.matchAll(d.pattern)) {
      const start = m.index!, end = start + m[0].length
      if ((d.valid === undefined || d.valid(m[0])) && !taken(start, end)) found.push({ entity: d.entity, start, end, value: m[0] })
    }
  }
  return found.sort((a, b) => a.start - b.start)
}
