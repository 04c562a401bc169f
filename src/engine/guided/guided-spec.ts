import { alt, lit, ref, type Expr, type GrammarSpec } from "./grammar-ast.ts"
import { GrammarError } from "./grammar-error.ts"
import { parseGbnf } from "./gbnf.ts"
import { addAnyJsonRules, ANY_JSON_OBJECT } from "./json-text.ts"
import { jsonSchemaGrammar } from "./json-schema.ts"
import { compileRegex, utf8Text } from "./regex.ts"
import { toolCallsGrammar, type ToolFunction } from "./tool-call-grammar.ts"

/**
 * What a request constrains its output to, before compilation: the front ends' common form
 * (response_format, vLLM's guided_* and structured_outputs, tool calls).
 */
export type GuidedSpec =
  | { readonly kind: "json_schema"; readonly schema: unknown }
  | { readonly kind: "json_object" }
  | { readonly kind: "regex"; readonly pattern: string }
  | { readonly kind: "choice"; readonly choices: ReadonlyArray<string> }
  | { readonly kind: "grammar"; readonly grammar: string }
  | {
    readonly kind: "tool_calls"
    readonly tools: ReadonlyArray<ToolFunction>
    readonly mode: "auto" | "required"
    readonly parallel: boolean
    /** auto: what a text answer must be instead (a response_format); null: free text. */
    readonly content: GuidedSpec | null
  }

/** The spec as text: equal keys compile to the same grammar (the compile cache's key). */
export const specKey = (spec: GuidedSpec): string => JSON.stringify(spec)

export const specGrammar = (spec: GuidedSpec): GrammarSpec => {
  switch (spec.kind) {
    case "json_schema":
      return jsonSchemaGrammar(spec.schema)
    case "json_object": {
      const rules = new Map<string, Expr>()
      addAnyJsonRules(rules)
      rules.set("root", ref(ANY_JSON_OBJECT))
      return { root: "root", rules }
    }
    case "regex":
      return { root: "root", rules: new Map([["root", compileRegex(spec.pattern, utf8Text, true)]]) }
    case "choice":
      if (spec.choices.length === 0) throw new GrammarError("the list of choices is empty")
      return { root: "root", rules: new Map([["root", alt(...spec.choices.map((c) => lit(c)))]]) }
    case "grammar":
      return parseGbnf(spec.grammar)
    case "tool_calls":
      return toolCallsGrammar({ tools: spec.tools, mode: spec.mode, parallel: spec.parallel, content: spec.content === null ? null : specGrammar(spec.content) })
  }
}
