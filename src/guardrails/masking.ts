import type { PiiEntity, PiiMatch } from "./pii.ts"

/**
 * Masking one request's personal data: each distinct value becomes a placeholder (`<CREDIT_CARD_1>`),
 * the same value always the same placeholder, so the model can still refer to it. With reversible
 * masking, the answer gets the values back (`restore`).
 */
export class Masker {
  private readonly byValue = new Map<string, string>()
  private readonly byPlaceholder = new Map<string, string>()
  private readonly counts = new Map<PiiEntity, number>()

  /** `text` with its findings replaced by placeholders. */
  mask(text: string, matches: ReadonlyArray<PiiMatch>): string {
    let out = ""
    let at = 0
    for (const m of matches) {
      out += text.slice(at, m.start) + this.placeholderOf(m)
      at = m.end
    }
    return out + text.slice(at)
  }

  private placeholderOf(m: PiiMatch): string {
    let p = this.byValue.get(m.value)
    if (p === undefined) {
      const n = (this.counts.get(m.entity) ?? 0) + 1
      this.counts.set(m.entity, n)
      p = `<${m.entity.toUpperCase()}_${n}>`
      this.byValue.set(m.value, p)
      this.byPlaceholder.set(p, m.value)
    }
    return p
  }

  get masked(): number {
    return this.byValue.size
  }

  /** The text with every placeholder of this request replaced by its value. */
  restore(text: string): string {
    return this.byPlaceholder.size === 0 ? text : text.replace(/<[A-Z_]+_\d+>/g, (p) => this.byPlaceholder.get(p) ?? p)
  }

  /** The longest placeholder: a stream holds back at most this much of a partial one. */
  get longestPlaceholder(): number {
    let n = 0
    for (const p of this.byPlaceholder.keys()) n = Math.max(n, p.length)
    return n
  }
}
