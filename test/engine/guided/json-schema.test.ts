import { jsonSchemaValidator } from "../../support/ajv.ts"
import { describe, expect, it } from "vitest"
import { GrammarError } from "../../../src/engine/guided/grammar-error.ts"
import { jsonSchemaGrammar } from "../../../src/engine/guided/json-schema.ts"
import { Rng } from "../../../src/engine/sampler.ts"
import { accepts, bundledVocab, compile, crossingVocab, randomWalk, textOf } from "./support.ts"

const ajv = jsonSchemaValidator({ strict: false })

/** Schemas of different shapes, each with documents it must accept and reject (checked against ajv too). */
const CASES: ReadonlyArray<{ readonly name: string; readonly schema: Record<string, unknown>; readonly valid: ReadonlyArray<unknown>; readonly invalid: ReadonlyArray<string> }> = [
  {
    name: "object with required, optional and bounded members",
    schema: {
      type: "object",
      properties: { id: { type: "integer", minimum: -5, maximum: 1200 }, name: { type: "string", minLength: 2, maxLength: 10 }, score: { type: "number", exclusiveMinimum: 0, maximum: 1 }, ok: { type: "boolean" }, note: { type: ["string", "null"], maxLength: 5 } },
      required: ["id", "name"],
      additionalProperties: false
    },
    valid: [{ id: 0, name: "ab" }, { id: 1200, name: "0123456789", score: 1, ok: false, note: null }, { id: -5, name: "é日", score: 0.25 }],
    invalid: ["{\"id\":1201,\"name\":\"ab\"}", "{\"id\":1,\"name\":\"a\"}", "{\"name\":\"ab\",\"id\":1}", "{\"id\":1,\"name\":\"ab\",\"score\":0}", "{\"id\":1,\"name\":\"ab\",\"x\":1}", "{\"id\":1.5,\"name\":\"ab\"}", "{\"id\":-0,\"name\":\"ab\"}"]
  },
  {
    name: "array of enums and consts, prefixItems, min/max items",
    schema: { type: "array", prefixItems: [{ const: "head" }, { enum: [1, "two", null, { k: [true] }] }], items: { type: "string", enum: ["x", "yé"] }, minItems: 2, maxItems: 4 },
    valid: [["head", 1], ["head", { k: [true] }, "x", "yé"], ["head", null, "x"]],
    invalid: ["[\"head\"]", "[\"head\",2]", "[\"head\",1,\"x\",\"x\",\"x\"]", "[\"tail\",1]", "[]"]
  },
  {
    name: "recursive tree through $defs and anyOf",
    schema: { $defs: { node: { type: "object", properties: { v: { type: "integer", minimum: 0, maximum: 9 }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } }, required: ["v"], additionalProperties: false } }, $ref: "#/$defs/node" },
    valid: [{ v: 1 }, { v: 2, kids: [{ v: 3 }, { v: 4, kids: [] }] }],
    invalid: ["{\"v\":10}", "{\"kids\":[]}", "{\"v\":1,\"kids\":[{\"v\":1},{\"v\":1},{\"v\":1}]}"]
  },
  {
    name: "string formats and patterns",
    schema: { type: "object", properties: { when: { type: "string", format: "date-time" }, day: { type: "string", format: "date" }, mail: { type: "string", format: "email" }, uuid: { type: "string", format: "uuid" }, code: { type: "string", pattern: "^[A-Z]{2}-\\d{3}$" }, ip: { type: "string", format: "ipv4" } }, required: ["when", "day", "mail", "uuid", "code", "ip"], additionalProperties: false },
    valid: [{ when: "2024-02-29T12:00:00Z", day: "2000-02-29", mail: "a.b@example.com", uuid: "123e4567-e89b-12d3-a456-426614174000", code: "AB-123", ip: "10.0.0.255" }],
    invalid: ["{\"when\":\"2023-02-29T12:00:00Z\",\"day\":\"2000-02-29\",\"mail\":\"a@b.cc\",\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\",\"code\":\"AB-123\",\"ip\":\"1.1.1.1\"}", "{\"when\":\"2024-01-01T12:00:00Z\",\"day\":\"1900-02-29\",\"mail\":\"a@b.cc\",\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\",\"code\":\"AB-123\",\"ip\":\"1.1.1.1\"}"]
  },
  {
    name: "additional properties with a schema, oneOf with a discriminator",
    schema: { type: "object", properties: { shape: { oneOf: [{ type: "object", properties: { kind: { const: "circle" }, r: { type: "number", minimum: 0, maximum: 10 } }, required: ["kind", "r"], additionalProperties: false }, { type: "object", properties: { kind: { const: "square" }, side: { type: "integer", minimum: 1, maximum: 3 } }, required: ["kind", "side"], additionalProperties: false }] } }, required: ["shape"], additionalProperties: { type: "integer", minimum: 0, maximum: 3 } },
    valid: [{ shape: { kind: "circle", r: 2.5 } }, { shape: { kind: "square", side: 3 }, counter: 2 }],
    invalid: ["{\"shape\":{\"kind\":\"circle\",\"side\":2}}", "{\"shape\":{\"kind\":\"square\",\"side\":1},\"extra\":\"x\"}"]
  },
  {
    name: "any JSON value (true schema)",
    schema: {},
    valid: [null, 1, -2.5, "s\"é", [1, { a: [] }], { "k": { "": true } }],
    invalid: ["nul", "[1,]", "{\"a\"}", "01", "\"\\ud800\""]
  }
]

describe("JSON Schema grammars", () => {
  for (const c of CASES) {
    it(`${c.name}: every sentence written validates (ajv), valid documents are accepted, invalid ones refused`, () => {
      const validate = ajv.compile(c.schema)
      const spec = jsonSchemaGrammar(c.schema)
      for (const doc of c.valid) {
        expect(validate(doc), `ajv on ${JSON.stringify(doc)}`).toBe(true)
        expect(accepts(compile(spec, bundledVocab), JSON.stringify(doc)), JSON.stringify(doc)).toBe(true)
      }
      const g = compile(spec, crossingVocab)
      for (const text of c.invalid) expect(accepts(g, text), text).toBe(false)
      const rng = Rng.seeded(c.name.length)
      let complete = 0
      for (const vocab of [crossingVocab, bundledVocab]) {
        const grammar = compile(spec, vocab)
        for (let i = 0; i < 60; i++) {
          const walk = randomWalk(grammar, rng, 1500, 0.5)
          if (!walk.canEnd) continue // stopped by the length cap (the tree may recurse)
          complete++
          const text = textOf(vocab, walk.ids)
          let doc: unknown
          expect(() => (doc = JSON.parse(text)), text).not.toThrow()
          expect(validate(doc), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true)
        }
      }
      expect(complete).toBeGreaterThan(80)
    })
  }

  it("refuses what it cannot enforce, naming the keyword and where it is", () => {
    const refused: ReadonlyArray<readonly [unknown, string, string]> = [
      [{ type: "object", properties: { a: { type: "string", not: { const: "x" } } } }, "properties.a.not", "'not' is not supported"],
      [{ type: "object", properties: { a: { type: "strin" } } }, "properties.a.type", "unknown type"],
      [{ type: "array", items: { type: "integer", multipleOf: 3 } }, "items.multipleOf", "multipleOf"],
      [{ type: "string", format: "color" }, "format", "not supported"],
      [{ oneOf: [{ type: "integer" }, { type: "number" }] }, "oneOf", "may match the same value"],
      [{ type: "integer", minimum: 5, maximum: 4 }, "", "no integer satisfies"],
      [{ $ref: "#/$defs/missing" }, "$ref", "points to nothing"],
      [{ $ref: "#" }, "", "matches nothing"],
      [{ anyOf: [{ $ref: "#" }, { type: "integer" }] }, "", "left-recursive"],
      [{ type: "object", properties: {}, required: ["a"], additionalProperties: false }, "required", "not in properties"],
      [{ type: "object", propertyNames: { maxLength: 3 } }, "propertyNames", "not supported"],
      [{ type: "string", pattern: "(a)\\1" }, "pattern", "backreferences"],
      [{ type: "object", frobnicate: 1 }, "frobnicate", "unknown keyword"]
    ]
    for (const [schema, path, words] of refused) {
      let error: unknown
      try {
        compile(jsonSchemaGrammar(schema))
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(schema)).toBeInstanceOf(GrammarError)
      expect((error as GrammarError).message, JSON.stringify(schema)).toContain(words)
      if (path !== "") expect((error as GrammarError).path, JSON.stringify(schema)).toBe(path)
    }
  })
})
