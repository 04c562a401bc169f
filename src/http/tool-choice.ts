import { Effect } from "effect"
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { asGrammarError, GrammarError } from "../engine/guided/grammar-error.ts"
import { jsonSchemaGrammar } from "../engine/guided/json-schema.ts"
import type { ToolFunction } from "../engine/guided/tool-call-grammar.ts"
import type { ToolDefinition } from "./schemas.ts"

/**
 * What a chat request's tools mean for the served model: the tools rendered into the prompt (all of
 * them, as given), whether the answer is parsed for tool calls, and what the grammar enforces: none
 * (tool_choice none), text or calls (auto), calls only (required, a named function, allowed_tools with
 * mode required).
 */
export interface ToolPlan {
  readonly rendered: ReadonlyArray<ToolDefinition>
  readonly parse: boolean
  readonly calls: { readonly tools: ReadonlyArray<ToolFunction>; readonly mode: "auto" | "required"; readonly parallel: boolean } | null
}

/** OpenAI's rule for function names. */
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/

const isObject = (x: unknown): x is Readonly<Record<string, unknown>> => typeof x === "object" && x !== null && !Array.isArray(x)

interface ToolFields {
  readonly tools?: ReadonlyArray<ToolDefinition> | null
  readonly tool_choice?: string | Readonly<Record<string, unknown>> | null
  readonly parallel_tool_calls?: boolean | null
}

/** The names a tool_choice object selects, and the mode, or the 400 explaining what is wrong with it. */
const selection = (choice: Readonly<Record<string, unknown>>, names: ReadonlySet<string>): { names: ReadonlyArray<string>; mode: "auto" | "required" } | ApiError => {
  const named = (f: unknown, param: string): string | ApiError => {
    const name = isObject(f) ? f.name : undefined
    if (typeof name !== "string") return invalidRequest(`${param}.name must be a string.`, `${param}.name`)
    if (!names.has(name)) return invalidRequest(`tool_choice names the function '${name}', which is not in tools.`, `${param}.name`)
    return name
  }
  if (choice.type === "function") {
    const name = named(choice.function, "tool_choice.function")
    return typeof name === "string" ? { names: [name], mode: "required" } : name
  }
  if (choice.type === "allowed_tools") {
    const allowed = choice.allowed_tools
    if (!isObject(allowed) || (allowed.mode !== "auto" && allowed.mode !== "required") || !Array.isArray(allowed.tools) || allowed.tools.length === 0) {
      return invalidRequest("tool_choice.allowed_tools needs mode (auto or required) and a non-empty list of tools.", "tool_choice.allowed_tools")
    }
    const picked: Array<string> = []
    for (let i = 0; i < allowed.tools.length; i++) {
      const t: unknown = allowed.tools[i]
      const param = `tool_choice.allowed_tools.tools[${i}]`
      if (!isObject(t) || t.type !== "function") return invalidRequest(`${param} must be a function tool.`, param)
      const name = named(t.function, `${param}.function`)
      if (typeof name !== "string") return name
      picked.push(name)
    }
    return { names: picked, mode: allowed.mode }
  }
  if (choice.type === "custom") return invalidRequest("Custom tools are not supported; use function tools.", "tool_choice")
  return invalidRequest(`tool_choice has type ${JSON.stringify(choice.type)}; expected none, auto, required, a function or allowed_tools.`, "tool_choice.type")
}

/** Validates tools and tool_choice (names, parameter schemas) into a plan; null when the request has no tools. */
export const planTools = (f: ToolFields): Effect.Effect<ToolPlan | null, ApiError> => {
  const tools = f.tools ?? []
  const choice = f.tool_choice ?? (tools.length > 0 ? "auto" : "none")
  if (tools.length === 0) {
    return choice === "none" ? Effect.succeed(null) : Effect.fail(invalidRequest("tool_choice is only allowed when tools are given.", "tool_choice"))
  }
  const functions: Array<ToolFunction> = []
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]
    if (t.type === "custom") return Effect.fail(invalidRequest("Custom tools are not supported; use function tools.", `tools[${i}].type`))
    if (t.type !== "function" || t.function === undefined) return Effect.fail(invalidRequest(`tools[${i}] must be {"type": "function", "function": {...}}.`, `tools[${i}]`))
    const { name, parameters } = t.function
    if (!FUNCTION_NAME.test(name)) return Effect.fail(invalidRequest(`tools[${i}].function.name must be 1-64 letters, digits, underscores or dashes, got ${JSON.stringify(name)}.`, `tools[${i}].function.name`))
    if (functions.some((g) => g.name === name)) return Effect.fail(invalidRequest(`The function '${name}' is given twice.`, `tools[${i}].function.name`))
    if (parameters !== undefined && parameters !== null) {
      try {
        jsonSchemaGrammar(parameters)
      } catch (thrown) {
        const e = asGrammarError(thrown)
        if (!(e instanceof GrammarError)) throw e
        const param = `tools[${i}].function.parameters${e.path === "" ? "" : `.${e.path}`}`
        return Effect.fail(invalidRequest(`Invalid parameters schema for function '${name}': ${e.message}.`, param, "invalid_tool_schema"))
      }
    }
    functions.push({ name, parameters: parameters ?? null })
  }
  const parallel = f.parallel_tool_calls ?? true
  if (choice === "none") return Effect.succeed({ rendered: tools, parse: false, calls: null })
  if (choice === "auto" || choice === "required") return Effect.succeed({ rendered: tools, parse: true, calls: { tools: functions, mode: choice, parallel } })
  if (typeof choice === "string") return Effect.fail(invalidRequest(`tool_choice must be none, auto, required or an object, got ${JSON.stringify(choice)}.`, "tool_choice"))
  const picked = selection(choice, new Set(functions.map((g) => g.name)))
  if (!("names" in picked)) return Effect.fail(picked)
  return Effect.succeed({ rendered: tools, parse: true, calls: { tools: functions.filter((g) => picked.names.includes(g.name)), mode: picked.mode, parallel } })
}
