import type { PiiEntity } from "./pii.ts"
import type { TextRule } from "./text-rules.ts"

/** When a guardrail runs: on the request, on the whole answer, or on the answer as it streams. */
export type GuardrailMode = "pre_call" | "post_call" | "during_call"

/** One configured guardrail (the router config's `guardrails:` list, in LiteLLM's shape). */
export interface GuardrailSpec {
  readonly name: string
  readonly modes: ReadonlySet<GuardrailMode>
  /** On for every request unless a key or team turns it off; else only where turned on. */
  readonly defaultOn: boolean
  readonly check:
    /** Personal data: masked with placeholders (restored in the answer when reversible) or blocked. */
    | { readonly kind: "pii"; readonly entities: ReadonlySet<PiiEntity>; readonly action: "mask" | "block"; readonly reversible: boolean; readonly rule: TextRule }
    /** Deny-listed phrases, regular expressions, or prompt-injection heuristics: a match blocks. */
    | { readonly kind: "text"; readonly rule: TextRule }
    /** A routed model judges the text with `prompt` and answers pass or fail. */
    | { readonly kind: "llm_judge"; readonly model: string; readonly prompt: string }
}
