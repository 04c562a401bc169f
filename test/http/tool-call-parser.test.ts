import { jsonSchemaValidator } from "../support/ajv.ts"
import { describe, expect, it } from "vitest"
import { specGrammar } from "../../src/engine/guided/guided-spec.ts"
import { Rng } from "../../src/engine/sampler.ts"
import { ToolCallParser } from "../../src/http/tool-call-parser.ts"
import { compile, crossingVocab, randomWalk, textOf } from "../engine/guided/support.ts"

const ajv = jsonSchemaValidator({ strict: false })
const TOOLS = [
  { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 8 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"], additionalProperties: false } },
  { name: "add", parameters: { type: "object", properties: { a: { type: "integer", minimum: -9, maximum: 9 }, b: { type: "number", minimum: 0, maximum: 1 } }, required: ["a", "b"], additionalProperties: false } },
  { name: "ping", parameters: null }
]

/** The parser fed the whole text at once, and fed it in random pieces: what a streaming client reassembles. */
const parseBothWays = (text: string, rng: Rng) => {
  const whole = new ToolCallParser()
  const content = whole.push(text).content + whole.end().content
  const streamed = new ToolCallParser()
  let streamedContent = ""
  const rebuilt: Array<{ id: string; name: string; arguments: string }> = []
  for (let at = 0; at < text.length;) {
    const n = 1 + Math.floor(rng.nextFloat() * 6)
    const piece = streamed.push(text.slice(at, at + n))
    at += n
    streamedContent += piece.content
    for (const d of piece.toolCalls) {
      if (d.id !== undefined) {
        expect(d.index).toBe(rebuilt.length)
        expect(d.function.name).toBeTypeOf("string")
        rebuilt.push({ id: d.id, name: d.function.name!, arguments: d.function.arguments })
      } else rebuilt[d.index].arguments += d.function.arguments
    }
  }
  streamedContent += streamed.end().content
  return { content, calls: whole.calls, streamedContent, rebuilt }
}

describe("Hermes tool calls: grammar and parser", () => {
  for (const [mode, parallel] of [["required", true], ["required", false], ["auto", true]] as const) {
    it(`${mode}${parallel ? ", parallel" : ", one call"}: calls written by the grammar parse, match their schemas, and stream to the same calls`, () => {
      const g = compile(specGrammar({ kind: "tool_calls", tools: TOOLS, mode, parallel, content: null }), crossingVocab)
      const rng = Rng.seeded(parallel ? 1 : 2)
      let withCalls = 0
      for (let i = 0; i < 150; i++) {
        // auto: half the answers start with some text and a call (random tokens rarely spell the marker).
        const prefix = mode === "auto" && i % 2 === 0 ? [...new TextEncoder().encode("Sure.\n<tool_call>\n")] : []
        const walk = randomWalk(g, rng, 800, mode === "auto" ? 0.02 : 0.5, prefix)
        if (!walk.canEnd) continue
        const text = textOf(crossingVocab, walk.ids)
        const { content, calls, streamedContent, rebuilt } = parseBothWays(text, rng)
        expect(streamedContent).toBe(content)
        expect(rebuilt.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })))
        if (mode === "required") {
          expect(content).toBe("")
          expect(calls.length).toBeGreaterThan(0)
        }
        if (!parallel) expect(calls.length).toBeLessThanOrEqual(1)
        expect(content).not.toContain("<tool_call>")
        for (const call of calls) {
          expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/)
          const tool = TOOLS.find((t) => t.name === call.function.name)!
          expect(tool).toBeDefined()
          const args = JSON.parse(call.function.arguments)
          expect(ajv.validate(tool.parameters ?? { type: "object", maxProperties: 0 }, args), call.function.arguments).toBe(true)
        }
        if (calls.length > 0) withCalls++
      }
      expect(withCalls).toBeGreaterThan(mode === "auto" ? 5 : 100)
    })
  }

  it("text that does not follow the format stays content; a call cut short keeps its name and partial arguments", () => {
    const raw = new ToolCallParser()
    expect(raw.push("<tool_call>\nnot json").content + raw.end().content).toBe("<tool_call>\nnot json")
    expect(raw.calls).toEqual([])
    const held = new ToolCallParser()
    const first = held.push("Hello <tool_ca")
    expect(first.content).toBe("Hello ")
    expect(held.end().content).toBe("<tool_ca")
    const cut = new ToolCallParser()
    cut.push("<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":")
    expect(cut.calls.map((c) => [c.function.name, c.function.arguments])).toEqual([["add", "{\"a\":"]])
  })
})
