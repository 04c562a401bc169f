import { jsonSchemaValidator } from "../support/ajv.ts"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CompiledGrammar } from "../../src/engine/guided/compiled-grammar.ts"
import { jsonSchemaGrammar } from "../../src/engine/guided/json-schema.ts"
import { bundledVocab, longestSentence } from "../engine/guided/support.ts"
import { MODEL, postJson, startTestServer, type TestServer } from "./support/server.ts"
import { pool } from "../support/pool.ts"

/**
 * Acceptance (issue 19): the bundled model knows nothing of JSON; guided decoding must carry it. Five
 * schemas of different shapes, 100 seeded samples each at temperature 1, whole and streamed, through
 * the real server; every answer validates with ajv (draft 2020-12, formats in full mode).
 *
 * A model that knows nothing of JSON may never close an unbounded string, so every free string in these
 * schemas has a maxLength (as a real extraction schema would), and max_tokens is the grammar's longest
 * sentence in bytes (each token is at least one byte): no answer can be cut short, and each must end
 * with finish_reason "stop".
 */
const SCHEMAS: Readonly<Record<string, Record<string, unknown>>> = {
  contact: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 24 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      email: { type: "string", format: "email" },
      tags: { type: "array", items: { type: "string", enum: ["friend", "family", "work"] }, maxItems: 3 },
      nickname: { type: ["string", "null"], maxLength: 12 }
    },
    required: ["name", "age", "email", "tags", "nickname"],
    additionalProperties: false
  },
  invoice: {
    type: "object",
    properties: {
      invoice_id: { type: "string", format: "uuid" },
      date: { type: "string", format: "date" },
      items: {
        type: "array",
        minItems: 1,
        maxItems: 3,
        items: {
          type: "object",
          properties: { sku: { type: "string", pattern: "^[A-Z]{3}-\\d{4}$" }, qty: { type: "integer", minimum: 1, maximum: 99 }, price: { type: "number", minimum: 0, maximum: 1000 } },
          required: ["sku", "qty", "price"],
          additionalProperties: false
        }
      },
      paid: { type: "boolean" }
    },
    required: ["invoice_id", "date", "items", "paid"],
    additionalProperties: false
  },
  event: {
    type: "object",
    properties: {
      title: { type: "string", maxLength: 30 },
      start: { type: "string", format: "date-time" },
      location: {
        anyOf: [
          { type: "object", properties: { city: { type: "string", maxLength: 20 }, country: { enum: ["FR", "DE", "US", "JP"] } }, required: ["city", "country"], additionalProperties: false },
          { type: "null" }
        ]
      },
      attendees: { type: "array", items: { type: "string", maxLength: 16 }, maxItems: 4 }
    },
    required: ["title", "start", "location", "attendees"],
    additionalProperties: false
  },
  classification: {
    type: "object",
    properties: {
      label: { enum: ["positive", "negative", "neutral"] },
      confidence: { type: "number", minimum: 0, maximum: 1 },
      reasons: { type: "array", items: { type: "string", maxLength: 40 }, minItems: 1, maxItems: 3 }
    },
    required: ["label", "confidence", "reasons"],
    additionalProperties: false
  },
  citations: {
    type: "array",
    minItems: 1,
    maxItems: 3,
    items: {
      type: "object",
      properties: { book: { enum: ["Genesis", "Exodus", "Psalms", "John"] }, chapter: { type: "integer", minimum: 1, maximum: 150 }, verse: { type: "integer", minimum: 1, maximum: 176 } },
      required: ["book", "chapter", "verse"],
      additionalProperties: false
    }
  }
}

const SAMPLES = 100
const CONCURRENCY = 16

const ajv = jsonSchemaValidator({ strict: true })

describe("structured outputs: json_schema, strict, through the real server", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(() => server?.close())

  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: ${SAMPLES} seeded samples at temperature 1 validate with ajv, whole and streamed (the same text for the same seed)`, async () => {
      const validate = ajv.compile(schema)
      const maxTokens = longestSentence(new CompiledGrammar(jsonSchemaGrammar(schema), bundledVocab))
      expect(maxTokens).toBeLessThan(1500)
      const request = (seed: number) => ({
        model: MODEL,
        messages: [{ role: "user" as const, content: `Answer with the ${name} as JSON.` }],
        temperature: 1,
        seed,
        max_tokens: maxTokens,
        response_format: { type: "json_schema" as const, json_schema: { name, schema, strict: true } }
      })
      const whole = await pool(SAMPLES, CONCURRENCY, async (seed) => {
        const r = await postJson(`${server.baseUrl}/v1/chat/completions`, request(seed))
        expect(r.status, r.text).toBe(200)
        return { text: r.json.choices[0].message.content as string, finish: r.json.choices[0].finish_reason as string }
      })
      const streamed = await pool(SAMPLES, CONCURRENCY, async (seed) => {
        const stream = await server.client.chat.completions.create({ ...request(seed), stream: true })
        let text = ""
        let finish: string | null = null
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? ""
          finish = chunk.choices[0]?.finish_reason ?? finish
        }
        return { text, finish }
      })
      for (let seed = 0; seed < SAMPLES; seed++) {
        for (const answer of [whole[seed], streamed[seed]]) {
          expect(answer.finish, answer.text).toBe("stop")
          const doc = JSON.parse(answer.text)
          expect(validate(doc), `seed ${seed}: ${answer.text} ${JSON.stringify(validate.errors)}`).toBe(true)
        }
        expect(streamed[seed].text).toBe(whole[seed].text)
      }
      // Temperature 1 explores: the answers are not all the same.
      expect(new Set(whole.map((a) => a.text)).size).toBeGreaterThan(SAMPLES / 2)
    })
  }
})
