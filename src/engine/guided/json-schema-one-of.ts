import { GrammarError } from "./grammar-error.ts"
import { isObject, kindOfValue, type Kind, type Schema } from "./json-schema-kinds.ts"

/** The kinds of JSON value a schema can produce (following $ref within `document`). */
const producedKinds = (schema: unknown, document: unknown, depth = 0): Set<Kind> => {
  const all = new Set<Kind>(["null", "boolean", "object", "array", "string", "number"])
  if (!isObject(schema) || depth > 32) return all
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#")) {
    let node: unknown = document
    for (const raw of decodeURIComponent(schema.$ref.slice(1)).split("/").slice(1)) node = isObject(node) ? node[raw.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined
    return producedKinds(node, document, depth + 1)
  }
  const union = (schema.anyOf ?? schema.oneOf) as unknown
  if (Array.isArray(union)) return new Set(union.flatMap((b) => [...producedKinds(b, document, depth + 1)]))
  const values = "const" in schema ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : null
  if (values !== null) return new Set(values.map((v) => (kindOfValue(v) === "integer" ? "number" : kindOfValue(v))))
  if (schema.type === undefined) return all
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type]) as Array<Kind>
  return new Set(types.map((t) => (t === "integer" ? "number" : t)))
}

/**
 * oneOf is anyOf when no value can match two branches: provable here by the kinds of value they produce,
 * or by a required property whose const/enum values differ between all branches (a discriminator).
 * Otherwise a GrammarError: a grammar of the union could write a value matching two branches.
 */
export const checkDisjoint = (branches: ReadonlyArray<unknown>, document: unknown, path: string): void => {
  const kinds = branches.map((b) => producedKinds(b, document))
  const overlapping = kinds.some((a, i) => kinds.some((b, j) => j > i && [...a].some((k) => b.has(k))))
  if (!overlapping) return
  const objects = branches.map((b) => (isObject(b) && isObject(b.properties) ? b : null))
  if (objects.every((o) => o !== null)) {
    const candidates = Object.keys(objects[0]!.properties as Schema)
    for (const key of candidates) {
      const literalSets = objects.map((o) => {
        const p = (o!.properties as Schema)[key]
        const required = Array.isArray(o!.required) && o!.required.includes(key)
        if (!required || !isObject(p)) return null
        const values = "const" in p ? [p.const] : Array.isArray(p.enum) ? p.enum : null
        return values === null ? null : new Set(values.map((v) => JSON.stringify(v)))
      })
      if (literalSets.every((s) => s !== null) && literalSets.every((a, i) => literalSets.every((b, j) => j <= i || ![...a!].some((v) => b!.has(v))))) return
    }
  }
  throw new GrammarError("oneOf branches that may match the same value are not supported; use anyOf, or make the branches differ in type or in a required const property", path)
}
