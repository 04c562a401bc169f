/** The kinds of JSON value a schema's `type` names (integer within number). */
export type Kind = "null" | "boolean" | "object" | "array" | "string" | "number" | "integer"

export const KINDS: ReadonlyArray<Kind> = ["null", "boolean", "object", "array", "string", "number", "integer"]

export type Schema = Readonly<Record<string, unknown>>

export const isObject = (x: unknown): x is Schema => typeof x === "object" && x !== null && !Array.isArray(x)

/** The kind of a JSON value (an integral number is an integer). */
export const kindOfValue = (v: unknown): Kind =>
  v === null ? "null" : typeof v === "boolean" ? "boolean" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : typeof v === "string" ? "string" : Number.isInteger(v) ? "integer" : "number"
