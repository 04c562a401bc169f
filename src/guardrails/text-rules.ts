import { findPii, type PiiEntity } from "./pii.ts"

/**
 * What a text guardrail looks for: phrases (case-insensitive), regular expressions, or personal data.
 * `find` says where the first violation starts (or -1); `reach` is how far back from the end of a text a
 * violation may still be completed by text that has not arrived yet: a stream holds that much back.
 */
export interface TextRule {
  readonly describe: string
  readonly find: (text: string) => number
  readonly reach: number
}

export const phraseRule = (phrases: ReadonlyArray<string>): TextRule => {
  const lower = phrases.map((p) => p.toLowerCase()).filter((p) => p !== "")
  return {
    describe: "a denied phrase",
    find: (text) => {
      const t = text.toLowerCase()
      let first = -1
      for (const p of lower) {
        const i = t.indexOf(p)
        if (i >= 0 && (first < 0 || i < first)) first = i
      }
      return first
    },
    reach: Math.max(0, ...lower.map((p) => p.length - 1))
  }
}

/** Regular expressions (a stream holds back `window` characters: a pattern longer than that is matched only when whole in one window). */
export const regexRule = (patterns: ReadonlyArray<RegExp>, window: number): TextRule => ({
  describe: "a denied pattern",
  find: (text) => {
    let first = -1
    for (const p of patterns) {
      const m = new RegExp(p.source, p.flags.replace("g", "")).exec(text)
      if (m !== null && (first < 0 || m.index < first)) first = m.index
    }
    return first
  },
  reach: window
})

/** Personal data in output: the longest entity the detectors know is an IBAN (34 characters with spaces, 42). */
export const piiRule = (entities: ReadonlySet<PiiEntity>): TextRule => ({
  describe: "personal data",
  find: (text) => findPii(text, entities)[0]?.start ?? -1,
  reach: 48
})

/**
 * Phrases of prompt-injection attempts: instructions that try to override the system's or to extract
 * it. A heuristic, as every such check is: it catches the common forms, not a determined attacker.
 */
export const PROMPT_INJECTION_PATTERNS: ReadonlyArray<RegExp> = [
  /\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b[^.\n]{0,20}\b(instructions?|rules|prompts?|directions|guidelines|context)\b/i,
  /\b(reveal|print|show|repeat|output|tell me)\b[^.\n]{0,30}\b(system|hidden|initial|original)\s+(prompt|instructions?|message)\b/i,
  /\byou are now\b[^.\n]{0,40}\b(dan|jailbroken|unrestricted|developer mode|without (any )?(rules|restrictions|filters))\b/i,
  /\b(do anything now|jailbreak|developer mode enabled)\b/i,
  /\bpretend (that )?(you are|to be)\b[^.\n]{0,40}\b(no|without)\b[^.\n]{0,20}\b(rules|restrictions|limits|filters)\b/i,
  /<\|?(im_start|system|endoftext)\|?>/i
]

export const promptInjectionRule: TextRule = { ...regexRule(PROMPT_INJECTION_PATTERNS, 120), describe: "a prompt-injection attempt" }
