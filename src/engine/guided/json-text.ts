import { alt, chars, lit, ref, separated, seq, star, type Expr } from "./grammar-ast.ts"
import { numberRange } from "./json-number.ts"
import type { CharEncoder } from "./regex.ts"
import { MAX_CODE_POINT, subtractRanges, type CodePointRange } from "./utf8.ts"

/**
 * JSON text as grammar expressions, compact (no whitespace between tokens, so generation never idles in
 * blanks): string characters and escapes, and the rules of any JSON value.
 */

/** Code points a JSON string may hold as they are: all but '"', '\' and the controls. */
const UNESCAPED: ReadonlyArray<CodePointRange> = [[0x20, 0x21], [0x23, 0x5b], [0x5d, MAX_CODE_POINT]]
const HEX: ReadonlyArray<CodePointRange> = [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]]

/** \uXXXX for a non-surrogate: a lone surrogate escape would make the string invalid Unicode. */
const UNICODE_ESCAPE = seq(lit("\\u"), alt(
  seq(chars([[0x30, 0x39], [0x41, 0x43], [0x45, 0x46], [0x61, 0x63], [0x65, 0x66]]), chars(HEX), chars(HEX), chars(HEX)),
  seq(chars([[0x44, 0x44], [0x64, 0x64]]), chars([[0x30, 0x37]]), chars(HEX), chars(HEX))
))

/** One character of a JSON string: one code point, so lengths count as JSON Schema (and ajv) count them. */
export const JSON_CHAR: Expr = alt(chars(UNESCAPED), seq(lit("\\"), chars([[0x22, 0x22], [0x5c, 0x5c], [0x2f, 0x2f], [0x62, 0x62], [0x66, 0x66], [0x6e, 0x6e], [0x72, 0x72], [0x74, 0x74]])), UNICODE_ESCAPE)

const SHORT_ESCAPES = new Map<number, string>([[0x22, "\\\""], [0x5c, "\\\\"], [0x08, "\\b"], [0x0c, "\\f"], [0x0a, "\\n"], [0x0d, "\\r"], [0x09, "\\t"]])

/** The one way a character is written inside a JSON string (for characters that must be escaped). */
const escapeOf = (cp: number): string => SHORT_ESCAPES.get(cp) ?? `\\u${cp.toString(16).padStart(4, "0")}`

/**
 * Characters inside a JSON string: as they are where JSON allows it, else by their one escape. A regex
 * (`pattern`, formats) constrains the decoded string; this writes what it allows.
 */
export const jsonStringChars: CharEncoder = (ranges) => {
  const plain = subtractRanges(ranges, [[0x00, 0x1f], [0x22, 0x22], [0x5c, 0x5c]])
  const escaped: Array<Expr> = []
  for (const [lo, hi] of ranges) {
    for (let cp = lo; cp <= Math.min(hi, 0x5c); cp++) if (cp < 0x20 || cp === 0x22 || cp === 0x5c) escaped.push(lit(escapeOf(cp)))
  }
  return alt(...(plain.length > 0 ? [chars(plain)] : []), ...escaped)
}

/** A JSON literal (const and enum values), written compactly. */
export const jsonLiteral = (value: unknown): Expr => lit(JSON.stringify(value))

export const JSON_VALUE = "json_value"
const JSON_OBJECT = "json_object"
const JSON_ARRAY = "json_array"
const JSON_STRING = "json_string"

/** Adds the rules of any JSON value (json_value, json_object, ...) to `rules`. */
export const addAnyJsonRules = (rules: Map<string, Expr>): void => {
  if (rules.has(JSON_VALUE)) return
  rules.set(JSON_STRING, seq(lit("\""), star(JSON_CHAR), lit("\"")))
  rules.set(JSON_VALUE, alt(ref(JSON_OBJECT), ref(JSON_ARRAY), ref(JSON_STRING), numberRange(false, null, null), lit("true"), lit("false"), lit("null")))
  rules.set(JSON_OBJECT, seq(lit("{"), separated(seq(ref(JSON_STRING), lit(":"), ref(JSON_VALUE)), lit(","), 0, Infinity), lit("}")))
  rules.set(JSON_ARRAY, seq(lit("["), separated(ref(JSON_VALUE), lit(","), 0, Infinity), lit("]")))
}

/** Rule name of any JSON object (json_object for response_format). */
export const ANY_JSON_OBJECT = JSON_OBJECT
