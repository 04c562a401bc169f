import type { GuardrailMode, GuardrailSpec } from "./guardrail-spec.ts"
import { Masker } from "./masking.ts"
import { OutputGuard, type GuardrailViolation } from "./output-guard.ts"
import { findPii } from "./pii.ts"
import { mapTexts, requestTexts } from "./request-texts.ts"

/**
 * Which guardrails run for a request and what they do to it. Keys and teams choose in their metadata
 * (`guardrails: [names]` turns on, `disable_guardrails: [names]` turns off, the key over its team); a
 * request may turn more on with a `guardrails: [names]` field but never turn one off.
 */
export interface GuardrailChoices {
  readonly keyMetadata?: Readonly<Record<string, unknown>> | undefined
  readonly teamMetadata?: Readonly<Record<string, unknown>> | undefined
  readonly requested?: ReadonlyArray<string> | undefined
}

const names = (x: unknown): ReadonlyArray<string> => (Array.isArray(x) ? x.filter((n): n is string => typeof n === "string") : [])

export const activeGuardrails = (specs: ReadonlyArray<GuardrailSpec>, choices: GuardrailChoices): ReadonlyArray<GuardrailSpec> => {
  const on = new Set([...names(choices.teamMetadata?.guardrails), ...names(choices.keyMetadata?.guardrails), ...(choices.requested ?? [])])
  const off = new Set([...names(choices.teamMetadata?.disable_guardrails), ...names(choices.keyMetadata?.disable_guardrails)])
  // The key's own list wins over its team's: a key that turns a guardrail on keeps it on.
  for (const n of names(choices.keyMetadata?.guardrails)) off.delete(n)
  return specs.filter((s) => (s.defaultOn && !off.has(s.name)) || on.has(s.name))
}

/** A request the guardrails refused, or the request as it goes on (masked) and what to do with its answer. */
export type GuardedInput =
  | { readonly _tag: "Blocked"; readonly violation: GuardrailViolation }
  | {
    readonly _tag: "Passed"
    readonly body: Readonly<Record<string, unknown>>
    /** Set when values were masked and the answer gets them back. */
    readonly masker: Masker | undefined
    /** The llm_judge guardrails to ask about `text` before the request goes on (they need the router). */
    readonly judges: ReadonlyArray<{ readonly spec: GuardrailSpec; readonly text: string }>
  }

const runs = (spec: GuardrailSpec, mode: GuardrailMode) => spec.modes.has(mode)

/**
 * The pre_call guardrails on a request: personal data masked (or refused), deny-listed phrases,
 * patterns and prompt injection refused. System messages are the operator's: only other roles are
 * checked for phrases and injection.
 */
export const guardInput = (body: Readonly<Record<string, unknown>>, active: ReadonlyArray<GuardrailSpec>): GuardedInput => {
  let masked = body
  let masker: Masker | undefined
  const judges: Array<{ readonly spec: GuardrailSpec; readonly text: string }> = []
  for (const spec of active) {
    if (!runs(spec, "pre_call")) continue
    const check = spec.check
    if (check.kind === "llm_judge") {
      const text = requestTexts(masked).filter((t) => t.role !== "system").map((t) => t.text).join("\n")
      judges.push({ spec, text })
      continue
    }
    const texts = requestTexts(masked)
    if (check.kind === "pii") {
      const found = texts.some((t) => findPii(t.text, check.entities).length > 0)
      if (!found) continue
      if (check.action === "block") return { _tag: "Blocked", violation: { guardrail: spec.name, reason: "the request contains personal data" } }
      const m = (masker ??= new Masker())
      masked = mapTexts(masked, (text) => m.mask(text, findPii(text, check.entities)))
      continue
    }
    if (texts.some((t) => t.role !== "system" && check.rule.find(t.text) >= 0)) {
      return { _tag: "Blocked", violation: { guardrail: spec.name, reason: `the request contains ${check.rule.describe}` } }
    }
  }
  const reversible = active.some((s) => s.check.kind === "pii" && s.check.action === "mask" && s.check.reversible && runs(s, "pre_call"))
  return { _tag: "Passed", body: masked, masker: reversible ? masker : undefined, judges }
}

/**
 * The guard of an answer: the post_call and during_call rules (a stream holds everything back for
 * post_call ones, a sliding window for during_call ones), restoring masked values when reversible.
 */
export const outputGuard = (active: ReadonlyArray<GuardrailSpec>, masker: Masker | undefined, streaming: boolean): OutputGuard => {
  const onOutput = active.filter((s) => runs(s, "post_call") || runs(s, "during_call"))
  const rules = onOutput.flatMap((s) => (s.check.kind === "text" || (s.check.kind === "pii" && s.check.action === "block") ? [{ name: s.name, rule: s.check.rule }] : []))
  const maskEntities = new Set(onOutput.flatMap((s) => (s.check.kind === "pii" && s.check.action === "mask" ? [...s.check.entities] : [])))
  const holdAll = streaming && active.some((s) => runs(s, "post_call") && s.check.kind !== "llm_judge")
  return new OutputGuard(rules, masker, holdAll, maskEntities)
}
