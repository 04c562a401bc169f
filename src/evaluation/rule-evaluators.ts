import { findPii, PII_ENTITIES } from "../guardrails/pii.ts"
import type { EvaluatorCheck } from "./evaluator-spec.ts"

/** A score: 0..1, and why (for the dashboard, spans and Langfuse). */
export interface Verdict {
  readonly value: number
  readonly comment: string
}

const ALL_PII = new Set(PII_ENTITIES)

/**
 * Openings of a refusal: the answer's first sentence is checked, so an answer that quotes one later
 * ("if it says 'I can't', retry") is not one.
 */
const REFUSAL = /^(?:i(?:'m| am)? (?:sorry|afraid)\b|i (?:can(?:'|no)t|cannot|won't|will not|am (?:not able|unable)|'m (?:not able|unable)) (?:help|assist|provide|do|comply|answer|fulfil)|as an ai\b|sorry, (?:but )?i (?:can(?:'|no)t|cannot))/i

/** The rule-based checks' verdict on an answer; undefined for llm_judge (evaluations.ts runs it). */
export const ruleVerdict = (check: EvaluatorCheck, answer: string): Verdict | undefined => {
  switch (check.kind) {
    case "json_valid":
      try {
        JSON.parse(answer)
        return { value: 1, comment: "valid JSON" }
      } catch (e) {
        return { value: 0, comment: `not JSON: ${(e as Error).message}` }
      }
    case "regex": {
      const matched = check.pattern.test(answer)
      const good = matched === (check.expect === "match")
      return { value: good ? 1 : 0, comment: `${matched ? "matches" : "does not match"} ${check.pattern.source}` }
    }
    case "not_contains": {
      const lower = answer.toLowerCase()
      const found = check.phrases.find((p) => lower.includes(p.toLowerCase()))
      return found === undefined ? { value: 1, comment: "no listed phrase" } : { value: 0, comment: `contains "${found}"` }
    }
    case "length": {
      const n = [...answer].length
      return { value: n >= check.min && n <= check.max ? 1 : 0, comment: `${n} characters (allowed ${check.min}..${check.max})` }
    }
    case "refusal":
      return REFUSAL.test(answer.trimStart()) ? { value: 0, comment: "reads as a refusal" } : { value: 1, comment: "not a refusal" }
    case "pii_leak": {
      const found = findPii(answer, ALL_PII)
      return found.length === 0 ? { value: 1, comment: "no personal data" } : { value: 0, comment: `personal data: ${[...new Set(found.map((m) => m.entity))].join(", ")}` }
    }
    case "llm_judge":
      return undefined
  }
}
