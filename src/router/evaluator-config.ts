import { Schema } from "effect"
import type { EvaluatorCheck, EvaluatorSpec } from "../evaluation/evaluator-spec.ts"
import { webhookFormatOf } from "../observability/alert-webhook.ts"
import { RouterConfigError } from "./router-config-error.ts"

/**
 * The router config's `evaluators:` list (Inferline's own section): what scores completed answers, for
 * which model groups, how often, and when to alert. See src/evaluation.
 */
const EVALUATOR_TYPES = ["json_valid", "regex", "not_contains", "length", "refusal", "pii_leak", "llm_judge"] as const

const Fraction = Schema.Finite.check(Schema.makeFilter((n: number) => (n >= 0 && n <= 1 ? undefined : "expected a number from 0 to 1")))
const PositiveInt = Schema.Int.check(Schema.makeFilter((n: number) => (n > 0 ? undefined : "expected an integer > 0")))
const NonNegativeInt = Schema.Int.check(Schema.makeFilter((n: number) => (n >= 0 ? undefined : "expected an integer >= 0")))

export const EvaluatorAlert = Schema.Struct({
  /** Alert when the rolling mean score of a model group falls below this. */
  below: Fraction,
  /** How many recent scores the mean is over (default 50). */
  window: Schema.optionalKey(PositiveInt),
  webhook_url: Schema.optionalKey(Schema.String),
  /** json (default) or slack (Slack's incoming-webhook shape; the default for hooks.slack.com URLs). */
  format: Schema.optionalKey(Schema.Literals(["json", "slack"]))
})

export const Evaluator = Schema.Struct({
  name: Schema.String.check(Schema.makeFilter((s: string) => (/^[\w.-]{1,64}$/.test(s) ? undefined : "expected 1-64 letters, digits, '.', '_' or '-'"))),
  type: Schema.Literals(EVALUATOR_TYPES),
  /** Model groups to score (default: all). */
  models: Schema.optionalKey(Schema.Array(Schema.String)),
  /** Share of requests scored, 0..1 (default 1). */
  sample_rate: Schema.optionalKey(Fraction),
  pattern: Schema.optionalKey(Schema.String),
  expect: Schema.optionalKey(Schema.Literals(["match", "no_match"])),
  phrases: Schema.optionalKey(Schema.Array(Schema.String)),
  min_length: Schema.optionalKey(NonNegativeInt),
  max_length: Schema.optionalKey(NonNegativeInt),
  judge_model: Schema.optionalKey(Schema.String),
  judge_prompt: Schema.optionalKey(Schema.String),
  alert: Schema.optionalKey(EvaluatorAlert)
})

const DEFAULT_JUDGE_PROMPT = "Grade how well the assistant's answer below serves the user's request: 1 for a correct, helpful, complete answer, 0 for a wrong, harmful or useless one, in between otherwise."

const checkOf = (e: typeof Evaluator.Type, path: string): EvaluatorCheck => {
  const need = (field: string, what: string): never => {
    throw new RouterConfigError({ message: `${path}.${field}: a ${e.type} evaluator needs ${what}` })
  }
  switch (e.type) {
    case "json_valid":
    case "refusal":
    case "pii_leak":
      return { kind: e.type }
    case "regex": {
      if (e.pattern === undefined) return need("pattern", "a pattern")
      try {
        return { kind: "regex", pattern: new RegExp(e.pattern), expect: e.expect ?? "match" }
      } catch (err) {
        throw new RouterConfigError({ message: `${path}.pattern: not a regular expression (${(err as Error).message})` })
      }
    }
    case "not_contains":
      return e.phrases === undefined || e.phrases.length === 0 ? need("phrases", "at least one phrase") : { kind: "not_contains", phrases: e.phrases }
    case "length": {
      const min = e.min_length ?? 0, max = e.max_length ?? Number.MAX_SAFE_INTEGER
      if (e.min_length === undefined && e.max_length === undefined) return need("max_length", "min_length or max_length")
      if (min > max) throw new RouterConfigError({ message: `${path}.min_length: ${min} is above max_length ${max}` })
      return { kind: "length", min, max }
    }
    case "llm_judge":
      return e.judge_model === undefined ? need("judge_model", "the model group that judges") : { kind: "llm_judge", model: e.judge_model, prompt: e.judge_prompt ?? DEFAULT_JUDGE_PROMPT }
  }
}

/** The `evaluators:` list resolved, each name once. */
export const evaluatorSpecsOf = (list: ReadonlyArray<typeof Evaluator.Type> | undefined): ReadonlyArray<EvaluatorSpec> => {
  const names = new Set<string>()
  return (list ?? []).map((e, i): EvaluatorSpec => {
    const path = `evaluators[${i}]`
    if (names.has(e.name)) throw new RouterConfigError({ message: `${path}.name: ${e.name} is named twice` })
    names.add(e.name)
    const a = e.alert
    return {
      name: e.name,
      check: checkOf(e, path),
      groups: new Set(e.models ?? []),
      sampleRate: e.sample_rate ?? 1,
      alert: a === undefined ? undefined : {
        below: a.below,
        window: a.window ?? 50,
        webhookUrl: a.webhook_url,
        format: a.webhook_url === undefined ? "json" : webhookFormatOf(a.webhook_url, a.format)
      }
    }
  })
}
