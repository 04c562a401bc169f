import { byteSetOf, type ByteSet } from "./byte-set.ts"
import { alt, lit, opt, ref, separated, seq, type ByteAutomaton, type Expr, type GrammarSpec } from "./grammar-ast.ts"
import { jsonSchemaRules } from "./json-schema.ts"

/**
 * Tool calls in the Hermes format (Qwen 2.5, Hermes 2/3, the bundled models' template):
 *
 *   <tool_call>
 *   {"name": "get_weather", "arguments": {"city":"Paris"}}
 *   </tool_call>
 *
 * one block per call, blocks separated by a newline. The grammar fixes the key order and spacing, so
 * the arguments always parse and match their function's parameters schema, and a streaming parser can
 * hand out the name first and the arguments as they come.
 */
export const TOOL_CALL_OPEN = "<tool_call>\n"
export const TOOL_CALL_CLOSE = "\n</tool_call>"
export const TOOL_CALL_SEPARATOR = "\n"
export const CALL_NAME_PREFIX = "{\"name\": \""
export const CALL_ARGUMENTS_PREFIX = "\", \"arguments\": "
export const CALL_SUFFIX = "}"

export interface ToolFunction {
  readonly name: string
  /** The parameters' JSON Schema; null: the function takes no parameters (arguments `{}`). */
  readonly parameters: unknown
}

export interface ToolCallsSpec {
  readonly tools: ReadonlyArray<ToolFunction>
  /** required: at least one call and nothing else; auto: text, then optionally calls. */
  readonly mode: "auto" | "required"
  /** More than one call allowed. */
  readonly parallel: boolean
  /** auto only: what a text answer must be instead (response_format), as the grammar of its root; null: free text. */
  readonly content: GrammarSpec | null
}

/**
 * Text that does not contain `marker`: a KMP automaton whose state is how much of the marker the text
 * ends with (all states accept; completing the marker has no edge).
 */
const textWithout = (marker: string): ByteAutomaton => {
  const m = new TextEncoder().encode(marker)
  const fail = new Int32Array(m.length)
  for (let i = 1, k = 0; i < m.length; i++) {
    while (k > 0 && m[i] !== m[k]) k = fail[k - 1]
    if (m[i] === m[k]) k++
    fail[i] = k
  }
  const edges: Array<readonly [number, ByteSet, number]> = []
  for (let s = 0; s < m.length; s++) {
    const byTarget = new Map<number, Array<number>>()
    for (let b = 0; b < 256; b++) {
      let k = s
      while (k > 0 && m[k] !== b) k = fail[k - 1]
      if (m[k] === b) k++
      if (k === m.length) continue
      byTarget.set(k, [...(byTarget.get(k) ?? []), b])
    }
    for (const [to, bytes] of byTarget) edges.push([s, byteSetOf(...bytes), to])
  }
  return { numStates: m.length, start: 0, accepting: Array.from({ length: m.length }, (_, i) => i), edges }
}

export const toolCallsGrammar = (spec: ToolCallsSpec): GrammarSpec => {
  const rules = new Map<string, Expr>()
  const calls = spec.tools.map((tool, i) => {
    const args = tool.parameters === null ? lit("{}") : jsonSchemaRules(tool.parameters, rules, `tool${i}_`)
    return seq(lit(CALL_NAME_PREFIX), lit(tool.name), lit(CALL_ARGUMENTS_PREFIX), args, lit(CALL_SUFFIX))
  })
  rules.set("tool_call", seq(lit(TOOL_CALL_OPEN), alt(...calls), lit(TOOL_CALL_CLOSE)))
  rules.set("tool_calls", separated(ref("tool_call"), lit(TOOL_CALL_SEPARATOR), 1, spec.parallel ? Infinity : 1))
  let root: Expr
  if (spec.mode === "required") root = ref("tool_calls")
  else if (spec.content !== null) {
    for (const [name, body] of spec.content.rules) rules.set(`content_${name}`, renameRefs(body, (n) => `content_${n}`))
    root = alt(ref(`content_${spec.content.root}`), ref("tool_calls"))
  } else root = seq({ kind: "automaton", automaton: textWithout(TOOL_CALL_OPEN.trimEnd()) }, opt(ref("tool_calls")))
  rules.set("root", root)
  return { root: "root", rules }
}

/** An expression with every rule reference renamed (to merge another grammar's rules). */
const renameRefs = (e: Expr, rename: (name: string) => string): Expr => {
  switch (e.kind) {
    case "ref":
      return ref(rename(e.rule))
    case "seq":
    case "alt":
      return { kind: e.kind, items: e.items.map((x) => renameRefs(x, rename)) }
    case "repeat":
      return { ...e, item: renameRefs(e.item, rename) }
    default:
      return e
  }
}
