import { Masker } from "./masking.ts"
import { findPii, type PiiEntity } from "./pii.ts"
import type { TextRule } from "./text-rules.ts"

/** Which guardrail stopped an answer, and why. */
export interface GuardrailViolation {
  readonly guardrail: string
  readonly reason: string
}

/** What may go to the client now: text, and the violation that ends the answer, if one was found. */
export interface Release {
  readonly text: string
  readonly violation?: GuardrailViolation | undefined
}

interface Pending {
  text: string
  stopped: boolean
}

/**
 * The answer's text, checked before the client sees it: each choice's text is held back as long as a
 * rule could still match across what has not arrived yet (the rules' reach, bounded), and placeholders
 * of masked values are restored when masking is reversible (a partial placeholder is held back too).
 * The rules see the model's own text, placeholders included; the client gets it restored. With
 * `holdAll` (post_call on a stream) nothing is released before the end.
 */
export class OutputGuard {
  private readonly rules: ReadonlyArray<{ readonly name: string; readonly rule: TextRule }>
  private readonly masker: Masker | undefined
  private readonly holdAll: boolean
  private readonly reach: number
  /** Personal data the model writes itself, masked on the way out (no restore). */
  private readonly maskEntities: ReadonlySet<PiiEntity>
  private readonly outputMasker = new Masker()
  private readonly choices = new Map<number, Pending>()

  constructor(rules: ReadonlyArray<{ readonly name: string; readonly rule: TextRule }>, masker: Masker | undefined, holdAll: boolean, maskEntities: ReadonlySet<PiiEntity> = new Set()) {
    this.rules = rules
    this.masker = masker
    this.holdAll = holdAll
    this.maskEntities = maskEntities
    // A personal-data finding is complete within 48 characters (an IBAN with spaces is the longest).
    this.reach = Math.max(0, ...rules.map((r) => r.rule.reach), maskEntities.size > 0 ? 48 : 0)
  }

  /** Whether anything is to be done at all (no rules and nothing to restore: the stream passes as it is). */
  get active(): boolean {
    return this.rules.length > 0 || this.maskEntities.size > 0 || (this.masker !== undefined && this.masker.masked > 0)
  }

  /** More text of choice `index`. */
  push(index: number, text: string): Release {
    const p = this.pendingOf(index)
    if (p.stopped) return { text: "" }
    p.text += text
    return this.release(p, false)
  }

  /** The choice ends: the rest, after a last check. */
  end(index: number): Release {
    const p = this.pendingOf(index)
    return p.stopped ? { text: "" } : this.release(p, true)
  }

  /** A whole answer's text (non-streaming): what to send, or where it stops. */
  whole(text: string): Release {
    const p: Pending = { text, stopped: false }
    return this.release(p, true)
  }

  private pendingOf(index: number): Pending {
    let p = this.choices.get(index)
    if (p === undefined) this.choices.set(index, (p = { text: "", stopped: false }))
    return p
  }

  private release(p: Pending, final: boolean): Release {
    for (const { name, rule } of this.rules) {
      const at = rule.find(p.text)
      if (at >= 0) {
        const safe = p.text.slice(0, at)
        p.text = ""
        p.stopped = true
        return { text: this.restore(safe), violation: { guardrail: name, reason: `the answer contains ${rule.describe}` } }
      }
    }
    const cut = final ? p.text.length : this.holdAll ? 0 : this.safeLength(p.text)
    const out = p.text.slice(0, cut)
    p.text = p.text.slice(cut)
    return { text: this.restore(out) }
  }

  /**
   * How much of `text` no later text can change: all but the rules' reach, and never into a placeholder
   * (one cut in two would not be restored: the cut moves back to its `<`).
   */
  private safeLength(text: string): number {
    let cut = Math.max(0, text.length - this.reach)
    if (this.masker !== undefined && this.masker.masked > 0 && cut > 0) {
      const open = text.lastIndexOf("<", cut - 1)
      if (open >= 0 && cut - open < this.masker.longestPlaceholder) {
        const close = text.indexOf(">", open)
        if (close < 0 || close >= cut) cut = open
      }
    }
    return cut
  }

  /** Output PII masked first (the model's own), then the request's masked values restored. */
  private restore(text: string): string {
    const masked = this.maskEntities.size === 0 ? text : this.outputMasker.mask(text, findPii(text, this.maskEntities))
    return this.masker === undefined ? masked : this.masker.restore(masked)
  }
}
