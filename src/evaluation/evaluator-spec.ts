/**
 * Evaluators, as the router config's `evaluators:` list declares them: each scores completed answers
 * from 0 (bad) to 1 (good), off the request path, for a sample of the requests of its model groups.
 */
export type EvaluatorCheck =
  /** 1 when the answer parses as JSON. */
  | { readonly kind: "json_valid" }
  /** 1 when the answer matches `pattern` (`expect: match`) or does not (`expect: no_match`). */
  | { readonly kind: "regex"; readonly pattern: RegExp; readonly expect: "match" | "no_match" }
  /** 1 when the answer contains none of the phrases (case-insensitive). */
  | { readonly kind: "not_contains"; readonly phrases: ReadonlyArray<string> }
  /** 1 when the answer's length in characters is within [min, max]. */
  | { readonly kind: "length"; readonly min: number; readonly max: number }
  /** 0 when the answer reads as a refusal ("I can't help with that"), else 1. */
  | { readonly kind: "refusal" }
  /** 0 when the answer holds personal data the PII detector finds (emails, cards, ...), else 1. */
  | { readonly kind: "pii_leak" }
  /** A routed model grades the question and answer: `{"score": 0..1, "reason": "..."}` under a strict schema. */
  | { readonly kind: "llm_judge"; readonly model: string; readonly prompt: string }

export interface AlertRule {
  /** Alert when the mean of the last `window` scores of a model group falls below this. */
  readonly below: number
  readonly window: number
  /** Where to send it (JSON, or Slack's incoming-webhook shape); the log and a metric always get it. */
  readonly webhookUrl: string | undefined
  readonly format: "json" | "slack"
}

export interface EvaluatorSpec {
  readonly name: string
  readonly check: EvaluatorCheck
  /** Model groups it runs for (empty: every group). */
  readonly groups: ReadonlySet<string>
  /** The share of requests scored, 0..1. */
  readonly sampleRate: number
  readonly alert: AlertRule | undefined
}
