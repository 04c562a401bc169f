import { Effect } from "effect"
import type { EngineInfo } from "../actors/engine.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import type { CompiledGrammar } from "../engine/guided/compiled-grammar.ts"
import { asGrammarError, GrammarError } from "../engine/guided/grammar-error.ts"
import { guidedCompilerFor } from "../engine/guided/guided-compiler.ts"
import type { GuidedSpec } from "../engine/guided/guided-spec.ts"
import type { SamplingFields } from "./schemas.ts"
import type { ToolPlan } from "./tool-choice.ts"

/** A guided-decoding spec and the request field it came from (errors name it, with the path inside it). */
export interface GuidedRequest {
  readonly spec: GuidedSpec
  readonly param: string
}

const isObject = (x: unknown): x is Readonly<Record<string, unknown>> => typeof x === "object" && x !== null && !Array.isArray(x)

/** A JSON Schema given as an object or as JSON text (vLLM accepts both for guided_json). */
const schemaValue = (value: unknown, param: string): unknown | ApiError => {
  if (typeof value !== "string") return value
  try {
    return JSON.parse(value)
  } catch {
    return invalidRequest(`${param} is not valid JSON.`, param)
  }
}

/** response_format: text (nothing), json_object, or json_schema with its schema. */
const fromResponseFormat = (rf: NonNullable<SamplingFields["response_format"]>): GuidedRequest | null | ApiError => {
  switch (rf.type) {
    case "text":
      return null
    case "json_object":
      return { spec: { kind: "json_object" }, param: "response_format" }
    case "json_schema": {
      const js = rf.json_schema
      if (js === undefined || js.schema === undefined) return invalidRequest("response_format.json_schema.schema is required with type json_schema.", "response_format.json_schema.schema")
      return { spec: { kind: "json_schema", schema: js.schema }, param: "response_format.json_schema.schema" }
    }
    default:
      return invalidRequest(`response_format.type must be text, json_object or json_schema, got ${JSON.stringify(rf.type)}.`, "response_format.type")
  }
}

/** Every way the request constrains its text answer, by field; at most one may be used. */
const contentConstraints = (f: SamplingFields): Array<GuidedRequest | ApiError> => {
  const found: Array<GuidedRequest | ApiError> = []
  const add = (r: GuidedRequest | null | ApiError) => {
    if (r !== null) found.push(r)
  }
  if (f.response_format != null) add(fromResponseFormat(f.response_format))
  if (f.guided_json != null) {
    const schema = schemaValue(f.guided_json, "guided_json")
    add(isObject(schema) || typeof schema === "boolean" ? { spec: { kind: "json_schema", schema }, param: "guided_json" } : invalidRequest("guided_json must be a JSON Schema (an object or its JSON text).", "guided_json"))
  }
  if (f.guided_regex != null) add({ spec: { kind: "regex", pattern: f.guided_regex }, param: "guided_regex" })
  if (f.guided_choice != null) add({ spec: { kind: "choice", choices: f.guided_choice }, param: "guided_choice" })
  if (f.guided_grammar != null) add({ spec: { kind: "grammar", grammar: f.guided_grammar }, param: "guided_grammar" })
  const so = f.structured_outputs
  if (so != null) {
    if (so.json != null) {
      const schema = schemaValue(so.json, "structured_outputs.json")
      add(isObject(schema) || typeof schema === "boolean" ? { spec: { kind: "json_schema", schema }, param: "structured_outputs.json" } : invalidRequest("structured_outputs.json must be a JSON Schema.", "structured_outputs.json"))
    }
    if (so.regex != null) add({ spec: { kind: "regex", pattern: so.regex }, param: "structured_outputs.regex" })
    if (so.choice != null) add({ spec: { kind: "choice", choices: so.choice }, param: "structured_outputs.choice" })
    if (so.grammar != null) add({ spec: { kind: "grammar", grammar: so.grammar }, param: "structured_outputs.grammar" })
    if (so.json_object === true) add({ spec: { kind: "json_object" }, param: "structured_outputs.json_object" })
  }
  return found
}

/**
 * The request's guided-decoding spec: its text constraint (response_format, guided_*,
 * structured_outputs: at most one), combined with the tool plan (auto: the answer is that text or tool
 * calls; required: tool calls only). Null when the output is free.
 */
export const guidedRequestOf = (f: SamplingFields, tools: ToolPlan | null): Effect.Effect<GuidedRequest | null, ApiError> => {
  const found = contentConstraints(f)
  const error = found.find((x) => !("spec" in x))
  if (error !== undefined) return Effect.fail(error as ApiError)
  const specs = found as Array<GuidedRequest>
  if (specs.length > 1) return Effect.fail(invalidRequest(`Give only one output constraint: ${specs[0].param.split(".")[0]} and ${specs[1].param.split(".")[0]} were both given.`, specs[1].param.split(".")[0]))
  const content = specs[0] ?? null
  const calls = tools?.calls ?? null
  if (calls === null) return Effect.succeed(content)
  return Effect.succeed({
    spec: { kind: "tool_calls", tools: calls.tools, mode: calls.mode, parallel: calls.parallel, content: calls.mode === "auto" ? content?.spec ?? null : null },
    param: content !== null && calls.mode === "auto" ? content.param : "tools"
  })
}

/** Compiles (or takes from the cache) the grammar for the served model's vocabulary; a schema it cannot enforce is a 400. */
export const compileGuided = (request: GuidedRequest, info: EngineInfo): Effect.Effect<CompiledGrammar, ApiError> =>
  Effect.suspend(() => {
    if (info.tokenizer === null) return Effect.fail(invalidRequest("Guided decoding needs the model's tokenizer.json, which this model lacks.", request.param))
    try {
      const { grammar, cached } = guidedCompilerFor(info.tokenizer, info.config.vocabSize).compile(request.spec)
      return cached ? Effect.succeed(grammar) : Effect.as(Effect.logDebug(`guided decoding: compiled a ${request.spec.kind} grammar (${grammar.grammar.numStates} states) in ${grammar.compileMs.toFixed(1)} ms`), grammar)
    } catch (thrown) {
      const e = asGrammarError(thrown)
      if (!(e instanceof GrammarError)) return Effect.die(e)
      const param = e.path === "" ? request.param : `${request.param}.${e.path}`
      return Effect.fail(invalidRequest(`This ${request.param.split(".")[0]} cannot be enforced: ${e.message}.`, param, "invalid_grammar"))
    }
  })
