import { alt, EMPTY, lit, opt, ref, repeat, separated, seq, star, type Expr, type GrammarSpec } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { intersect } from "./intersection.ts"
import { numberRange, type Bound } from "./json-number.ts"
import { isObject, KINDS, kindOfValue, type Kind, type Schema } from "./json-schema-kinds.ts"
import { checkDisjoint } from "./json-schema-one-of.ts"
import { addAnyJsonRules, JSON_CHAR, JSON_VALUE, jsonLiteral, jsonStringChars } from "./json-text.ts"
import { compileRegex } from "./regex.ts"
import { STRING_FORMATS } from "./string-formats.ts"

/** Keywords that describe and never constrain: ignored. */
const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$comment", "$schema", "$id", "$anchor", "deprecated", "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "contentSchema", "$defs", "definitions"])
const OBJECT_KEYWORDS = ["properties", "required", "additionalProperties", "unevaluatedProperties"]
const ARRAY_KEYWORDS = ["items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems"]
const STRING_KEYWORDS = ["minLength", "maxLength", "pattern", "format"]
const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]
const GENERIC_KEYWORDS = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"]
const SUPPORTED = new Set([...OBJECT_KEYWORDS, ...ARRAY_KEYWORDS, ...STRING_KEYWORDS, ...NUMBER_KEYWORDS, ...GENERIC_KEYWORDS])
/** Known keywords this compiler does not enforce: a 400 rather than output that may not validate. */
const UNSUPPORTED = new Set(["not", "if", "then", "else", "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies", "minProperties", "maxProperties", "contains", "minContains", "maxContains", "unevaluatedItems", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor"])

const join = (path: string, key: string | number) => (typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`)

/**
 * JSON Schema to grammar rules: the OpenAI structured-outputs subset and more. Objects (properties in
 * schema order, required and optional ones, additionalProperties false / true / a schema), arrays
 * (items, prefixItems, minItems/maxItems), strings (minLength/maxLength, pattern, formats, all at once),
 * integers and numbers with exact (exclusive) bounds, booleans, null, enum and const, anyOf, oneOf (when
 * its branches cannot overlap), allOf of one schema, and $ref into $defs/definitions or any JSON pointer
 * of the document, recursion included. Anything else is an error naming the keyword and where it is:
 * a schema is never silently loosened.
 *
 * Where the schema leaves freedom that would only make output longer or ambiguous, the grammar takes
 * the narrower, still valid road: compact JSON, declared properties only unless additional ones are
 * allowed explicitly (and then only with keys longer than any declared name, so no key repeats), no
 * number exponents, bounded digit counts.
 */
class SchemaCompiler {
  readonly rules: Map<string, Expr>
  private readonly document: unknown
  private readonly prefix: string
  private readonly refRules = new Map<string, string>()
  private counter = 0

  constructor(document: unknown, rules: Map<string, Expr>, prefix: string) {
    this.document = document
    this.rules = rules
    this.prefix = prefix
  }

  private newRule(kind: string): string {
    return `${this.prefix}${kind}${this.counter++}`
  }

  /**
   * Strings and numbers get a rule each, shared by every place with the same constraints: the rule (and
   * the token analysis of its states) is built once, and inside a string the parser stack's top is the
   * string's own rule whatever object holds it.
   */
  private sharedRule(key: string, build: () => Expr): Expr {
    const name = `${key}`
    if (!this.rules.has(name)) this.rules.set(name, build())
    return ref(name)
  }

  value(schema: unknown, path: string): Expr {
    if (schema === true) return this.anyValue()
    if (schema === false) throw new GrammarError("the schema `false` matches nothing", path)
    if (!isObject(schema)) throw new GrammarError("a schema must be an object or a boolean", path)
    for (const key of Object.keys(schema)) {
      if (ANNOTATIONS.has(key) || key.startsWith("x-") || SUPPORTED.has(key)) continue
      if (UNSUPPORTED.has(key)) throw new GrammarError(`the keyword '${key}' is not supported`, join(path, key))
      throw new GrammarError(`unknown keyword '${key}'`, join(path, key))
    }
    const constraining = Object.keys(schema).filter((k) => SUPPORTED.has(k))
    if (constraining.length === 0) return this.anyValue()
    if ("$ref" in schema) {
      if (constraining.length > 1) throw new GrammarError("$ref together with other keywords is not supported", join(path, "$ref"))
      return ref(this.refRule(schema.$ref, join(path, "$ref")))
    }
    if ("allOf" in schema) {
      const all = schema.allOf
      if (!Array.isArray(all) || all.length !== 1 || constraining.length > 1) throw new GrammarError("allOf is supported only with exactly one schema and no other keywords", join(path, "allOf"))
      return this.value(all[0], join(path, "allOf[0]"))
    }
    if ("anyOf" in schema || "oneOf" in schema) return this.union(schema, constraining, path)
    if ("const" in schema || "enum" in schema) return this.literals(schema, constraining, path)
    const kinds = this.kinds(schema, path)
    // Formats apply to strings only; ajv-formats' numeric ones (int32, float...) are not supported.
    if (schema.format !== undefined && !kinds.includes("string")) throw new GrammarError(`the format ${JSON.stringify(schema.format)} is not supported on ${kinds.join(" or ")}`, join(path, "format"))
    return alt(...kinds.map((k) => this.ofKind(k, schema, path)))
  }

  private anyValue(): Expr {
    addAnyJsonRules(this.rules)
    return ref(JSON_VALUE)
  }

  private kinds(schema: Schema, path: string): ReadonlyArray<Kind> {
    const type = schema.type
    if (type === undefined) {
      // No type: any kind, each with the keywords that apply to it (integer is within number).
      return KINDS.filter((k) => k !== "integer")
    }
    const list = Array.isArray(type) ? type : [type]
    if (list.length === 0) throw new GrammarError("type must not be empty", join(path, "type"))
    for (const t of list) if (!KINDS.includes(t as Kind)) throw new GrammarError(`unknown type ${JSON.stringify(t)}`, join(path, "type"))
    const kinds = [...new Set(list as Array<Kind>)]
    return kinds.includes("number") ? kinds.filter((k) => k !== "integer") : kinds
  }

  private ofKind(kind: Kind, schema: Schema, path: string): Expr {
    switch (kind) {
      case "null":
        return lit("null")
      case "boolean":
        return alt(lit("true"), lit("false"))
      case "integer":
      case "number": {
        const key = `${kind}${JSON.stringify(NUMBER_KEYWORDS.map((k) => schema[k] ?? null))}`
        return this.sharedRule(key, () => this.number(kind === "integer", schema, path))
      }
      case "string": {
        const key = `string${JSON.stringify(STRING_KEYWORDS.map((k) => schema[k] ?? null))}`
        return this.sharedRule(key, () => seq(lit("\""), this.stringBody(schema, path), lit("\"")))
      }
      case "object":
        return ref(this.objectRule(schema, path))
      case "array":
        return ref(this.arrayRule(schema, path))
    }
  }

  private union(schema: Schema, constraining: ReadonlyArray<string>, path: string): Expr {
    const key = "anyOf" in schema ? "anyOf" : "oneOf"
    if (constraining.length > 1) throw new GrammarError(`${key} together with other keywords is not supported; move them into each branch`, join(path, key))
    const branches = schema[key]
    if (!Array.isArray(branches) || branches.length === 0) throw new GrammarError(`${key} must be a non-empty array of schemas`, join(path, key))
    if (key === "oneOf") checkDisjoint(branches, this.document, join(path, key))
    return alt(...branches.map((b, i) => this.value(b, join(join(path, key), i))))
  }

  private literals(schema: Schema, constraining: ReadonlyArray<string>, path: string): Expr {
    const others = constraining.filter((k) => k !== "const" && k !== "enum" && k !== "type")
    if (others.length > 0) throw new GrammarError(`${"const" in schema ? "const" : "enum"} together with '${others[0]}' is not supported`, join(path, others[0]))
    let values: ReadonlyArray<unknown>
    if ("const" in schema) values = [schema.const]
    else if (Array.isArray(schema.enum) && schema.enum.length > 0) values = schema.enum
    else throw new GrammarError("enum must be a non-empty array", join(path, "enum"))
    if ("const" in schema && "enum" in schema) values = values.filter((v) => (schema.enum as Array<unknown>).some((e) => JSON.stringify(e) === JSON.stringify(v)))
    if (schema.type !== undefined) {
      const kinds = this.kinds(schema, path)
      values = values.filter((v) => {
        const k = kindOfValue(v)
        return kinds.includes(k) || (k === "integer" && kinds.includes("number"))
      })
    }
    if (values.length === 0) throw new GrammarError("no value of enum/const has the schema's type", path)
    return alt(...[...new Set(values.map((v) => JSON.stringify(v)))].map((text) => lit(text)))
  }

  private number(integer: boolean, schema: Schema, path: string): Expr {
    const m = schema.multipleOf
    if (m !== undefined && !(integer && m === 1)) throw new GrammarError("multipleOf is not supported (except 1 on integers)", join(path, "multipleOf"))
    const bound = (key: string): number | undefined => {
      const v = schema[key]
      if (v === undefined || typeof v === "boolean") return undefined
      if (typeof v !== "number" || !Number.isFinite(v)) throw new GrammarError(`${key} must be a finite number`, join(path, key))
      return v
    }
    // Draft 4 spells exclusivity as booleans next to minimum/maximum; later drafts as numbers.
    const pick = (inclusiveKey: string, exclusiveKey: string, tighter: (a: number, b: number) => boolean): Bound | null => {
      const inclusive = bound(inclusiveKey), exclusive = bound(exclusiveKey)
      const draft4Exclusive = schema[exclusiveKey] === true
      let b: Bound | null = inclusive === undefined ? null : { value: inclusive, inclusive: !draft4Exclusive }
      if (exclusive !== undefined && (b === null || tighter(exclusive, b.value) || exclusive === b.value)) b = { value: exclusive, inclusive: false }
      return b
    }
    return numberRange(integer, pick("minimum", "exclusiveMinimum", (a, b) => a > b), pick("maximum", "exclusiveMaximum", (a, b) => a < b))
  }

  /** The characters of a string: every constraint given, at once (an intersection when several). */
  private stringBody(schema: Schema, path: string): Expr {
    const languages: Array<Expr> = []
    if (schema.format !== undefined) {
      const source = typeof schema.format === "string" ? STRING_FORMATS.get(schema.format) : undefined
      if (source === undefined) throw new GrammarError(`the format ${JSON.stringify(schema.format)} is not supported (supported: ${[...STRING_FORMATS.keys()].join(", ")})`, join(path, "format"))
      languages.push(compileRegex(source, jsonStringChars, true))
    }
    if (schema.pattern !== undefined) {
      if (typeof schema.pattern !== "string") throw new GrammarError("pattern must be a string", join(path, "pattern"))
      try {
        languages.push(compileRegex(schema.pattern, jsonStringChars, false))
      } catch (e) {
        throw e instanceof GrammarError ? new GrammarError(e.message, join(path, "pattern")) : e
      }
    }
    const min = this.count(schema, "minLength", path) ?? 0
    const max = this.count(schema, "maxLength", path) ?? Infinity
    if (min > max) throw new GrammarError("minLength is greater than maxLength", join(path, "minLength"))
    if (min > 0 || max < Infinity || languages.length === 0) languages.push(repeat(JSON_CHAR, min, max))
    if (languages.length === 1) return languages[0]
    const automaton = intersect(languages)
    if (automaton === null) throw new GrammarError("no string satisfies all of this schema's string constraints", path)
    return { kind: "automaton", automaton }
  }

  private count(schema: Schema, key: string, path: string): number | undefined {
    const v = schema[key]
    if (v === undefined) return undefined
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new GrammarError(`${key} must be a non-negative integer`, join(path, key))
    return v
  }

  private objectRule(schema: Schema, path: string): string {
    const properties = schema.properties ?? {}
    if (!isObject(properties)) throw new GrammarError("properties must be an object", join(path, "properties"))
    const required = schema.required ?? []
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) throw new GrammarError("required must be an array of strings", join(path, "required"))
    let additional: unknown = schema.additionalProperties
    if (additional === undefined && schema.unevaluatedProperties !== undefined) {
      if (schema.unevaluatedProperties !== false) throw new GrammarError("unevaluatedProperties is supported only as false", join(path, "unevaluatedProperties"))
      additional = false
    }
    // Additional properties only when the schema asks for them explicitly (see the class comment).
    const extras = additional === undefined || additional === false ? null : additional
    const names = Object.keys(properties)
    const members: Array<{ readonly expr: Expr; readonly required: boolean }> = names.map((name) => ({
      expr: seq(jsonLiteral(name), lit(":"), this.value(properties[name], join(join(path, "properties"), name))),
      required: required.includes(name)
    }))
    for (const name of new Set(required as Array<string>)) {
      if (names.includes(name)) continue
      if (additional === false || (additional === undefined && schema.unevaluatedProperties === false)) {
        throw new GrammarError(`required property '${name}' is not in properties, and no additional properties are allowed`, join(path, "required"))
      }
      members.push({ expr: seq(jsonLiteral(name), lit(":"), this.value(additional ?? true, join(path, "additionalProperties"))), required: true })
      names.push(name)
    }
    const name = this.newRule("object")
    const extra = extras === null ? null : this.extraMember(extras, names, path)
    this.rules.set(name, seq(lit("{"), this.members(name, members, extra), lit("}")))
    return name
  }

  /** A property beyond the declared ones: a key longer than every declared name (so none repeats), then its value. */
  private extraMember(schema: unknown, declared: ReadonlyArray<string>, path: string): Expr {
    const longest = Math.max(0, ...declared.map((n) => [...n].length))
    return seq(lit("\""), repeat(JSON_CHAR, longest + 1, Infinity), lit("\":"), this.value(schema, join(path, "additionalProperties")))
  }

  /**
   * Members in schema order, separated by commas, optional ones skippable: the rest of the list after
   * member i is a rule per (i, whether a member came before), so the grammar stays linear in the
   * number of optional members instead of doubling with each.
   */
  private members(rule: string, members: ReadonlyArray<{ readonly expr: Expr; readonly required: boolean }>, extra: Expr | null): Expr {
    const extraTail = (first: boolean): Expr => (extra === null ? EMPTY : first ? opt(separated(extra, lit(","), 1, Infinity)) : star(seq(lit(","), extra)))
    if (members.every((m) => m.required)) {
      return members.length === 0 ? extraTail(true) : seq(...members.flatMap((m, i) => (i === 0 ? [m.expr] : [lit(","), m.expr])), extraTail(false))
    }
    const restName = (i: number, first: boolean) => `${rule}_${i}${first ? "f" : "n"}`
    const rest = (i: number, first: boolean): Expr => {
      const name = restName(i, first)
      if (!this.rules.has(name)) {
        this.rules.set(name, EMPTY) // placeholder while the body is built
        let body: Expr
        if (i === members.length) body = extraTail(first)
        else {
          const m = members[i]
          const present = seq(first ? EMPTY : lit(","), m.expr, rest(i + 1, false))
          body = m.required ? present : alt(present, rest(i + 1, first))
        }
        this.rules.set(name, body)
      }
      return ref(name)
    }
    return rest(0, true)
  }

  private arrayRule(schema: Schema, path: string): string {
    const min = this.count(schema, "minItems", path) ?? 0
    const max = this.count(schema, "maxItems", path) ?? Infinity
    if (min > max) throw new GrammarError("minItems is greater than maxItems", join(path, "minItems"))
    if (schema.uniqueItems === true && max > 1) throw new GrammarError("uniqueItems is not supported (except with maxItems <= 1)", join(path, "uniqueItems"))
    let prefix: ReadonlyArray<unknown> = []
    let rest: unknown = schema.items ?? true
    if (schema.prefixItems !== undefined) {
      if (!Array.isArray(schema.prefixItems)) throw new GrammarError("prefixItems must be an array", join(path, "prefixItems"))
      prefix = schema.prefixItems
    } else if (Array.isArray(schema.items)) {
      // Draft 4-7 tuples: items as an array, additionalItems for the rest.
      prefix = schema.items
      rest = schema.additionalItems ?? true
    }
    const itemRule = (s: unknown, p: string) => {
      const name = this.newRule("item")
      this.rules.set(name, this.value(s, p))
      return ref(name)
    }
    const prefixItems = prefix.map((s, i) => itemRule(s, join(join(path, schema.prefixItems !== undefined ? "prefixItems" : "items"), i)))
    const restMax = rest === false ? 0 : max - prefixItems.length
    if (restMax < 0 && min > prefixItems.length) throw new GrammarError("minItems needs more items than the schema allows", join(path, "minItems"))
    const restItem = rest === false ? EMPTY : itemRule(rest, join(path, Array.isArray(schema.items) ? "additionalItems" : "items"))
    const restMin = Math.max(0, min - prefixItems.length)
    if (rest === false && restMin > 0) throw new GrammarError("minItems needs more items than prefixItems gives", join(path, "minItems"))
    // Positions 0.. use prefix schemas, then the rest schema; items past minItems are optional in order.
    const tail = (j: number): Expr => {
      if (j === prefixItems.length) {
        if (restMax <= 0) return EMPTY
        if (j === 0) return separated(restItem, lit(","), restMin, restMax)
        return repeat(seq(lit(","), restItem), restMin, restMax)
      }
      if (j >= max) return EMPTY
      const item = seq(j === 0 ? EMPTY : lit(","), prefixItems[j], tail(j + 1))
      return j < min ? item : opt(item)
    }
    const name = this.newRule("array")
    this.rules.set(name, seq(lit("["), tail(0), lit("]")))
    return name
  }

  private refRule(target: unknown, path: string): string {
    if (typeof target !== "string") throw new GrammarError("$ref must be a string", path)
    const existing = this.refRules.get(target)
    if (existing !== undefined) return existing
    if (!target.startsWith("#")) throw new GrammarError(`only references within the schema (#...) are supported, not ${JSON.stringify(target)}`, path)
    let node: unknown = this.document
    const pointer = decodeURIComponent(target.slice(1))
    if (pointer !== "") {
      if (!pointer.startsWith("/")) throw new GrammarError(`unsupported reference ${JSON.stringify(target)} (use a JSON pointer such as #/$defs/name)`, path)
      for (const raw of pointer.slice(1).split("/")) {
        const key = raw.replaceAll("~1", "/").replaceAll("~0", "~")
        node = Array.isArray(node) ? node[Number(key)] : isObject(node) ? node[key] : undefined
        if (node === undefined) throw new GrammarError(`the reference ${JSON.stringify(target)} points to nothing`, path)
      }
    }
    const name = this.newRule("ref")
    this.refRules.set(target, name)
    this.rules.set(name, EMPTY) // placeholder: the target may refer back to itself
    this.rules.set(name, this.value(node, target.slice(1) === "" ? "" : target.slice(2).replaceAll("/", ".")))
    return name
  }
}

/**
 * A JSON Schema (the document itself, for $ref) as an expression of the JSON text it allows, its rules
 * added to `rules` (names start with `prefix`; strings, numbers and any-JSON rules are shared by name).
 */
export const jsonSchemaRules = (schema: unknown, rules: Map<string, Expr>, prefix: string): Expr =>
  new SchemaCompiler(schema, rules, prefix).value(schema, "")

/** A JSON Schema as a grammar of the JSON text it allows. */
export const jsonSchemaGrammar = (schema: unknown): GrammarSpec => {
  const rules = new Map<string, Expr>()
  rules.set("root", jsonSchemaRules(schema, rules, ""))
  return { root: "root", rules }
}
