import { describe, expect, it } from "vitest"
import { hasByte } from "../../../src/engine/guided/byte-set.ts"
import { utf8Sequences } from "../../../src/engine/guided/utf8.ts"
import { Rng } from "../../../src/engine/sampler.ts"

const encoder = new TextEncoder()
const matches = (sequences: ReturnType<typeof utf8Sequences>, bytes: Uint8Array) =>
  sequences.some((seq) => seq.length === bytes.length && seq.every((set, i) => hasByte(set, bytes[i])))

describe("UTF-8 sequences of code point ranges", () => {
  it("spell exactly the range: every code point inside by one sequence, none outside (TextEncoder as the reference)", () => {
    const rng = Rng.seeded(7)
    const ranges: Array<[number, number]> = [[0, 0x7f], [0x20, 0x10ffff], [0x80, 0x7ff], [0x7f0, 0x810], [0xd700, 0xe100], [0xfff0, 0x10010], [0x10000, 0x10ffff], [0x41, 0x5a], [0x3b1, 0x3c9], [0x1f600, 0x1f64f]]
    for (let i = 0; i < 20; i++) {
      const lo = Math.floor(rng.nextFloat() * 0x110000)
      ranges.push([lo, Math.min(0x10ffff, lo + Math.floor(rng.nextFloat() * 5000))])
    }
    for (const [lo, hi] of ranges) {
      const seqs = utf8Sequences(lo, hi)
      // Every boundary and a sample of code points in and around the range.
      const probes = [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0xd7ff, 0xe000]
      for (let k = 0; k < 300; k++) probes.push(Math.floor(rng.nextFloat() * 0x110000))
      for (const cp of probes) {
        if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) continue
        const bytes = encoder.encode(String.fromCodePoint(cp))
        expect(matches(seqs, bytes), `U+${cp.toString(16)} in [${lo.toString(16)}, ${hi.toString(16)}]`).toBe(cp >= lo && cp <= hi)
      }
      // Sequences never overlap: a code point matches one sequence only.
      for (let k = 0; k < 200; k++) {
        const cp = lo + Math.floor(rng.nextFloat() * (hi - lo + 1))
        if (cp >= 0xd800 && cp <= 0xdfff) continue
        const bytes = encoder.encode(String.fromCodePoint(cp))
        expect(seqs.filter((seq) => seq.length === bytes.length && seq.every((set, i) => hasByte(set, bytes[i]))).length).toBe(1)
      }
    }
  })

  it("never spell surrogates or overlong forms", () => {
    const all = utf8Sequences(0, 0x10ffff)
    expect(matches(all, Uint8Array.of(0xed, 0xa0, 0x80))).toBe(false) // U+D800
    expect(matches(all, Uint8Array.of(0xc0, 0x80))).toBe(false) // overlong NUL
    expect(matches(all, Uint8Array.of(0xe0, 0x80, 0x80))).toBe(false) // overlong
    expect(matches(all, Uint8Array.of(0xf4, 0x90, 0x80, 0x80))).toBe(false) // beyond U+10FFFF
  })
})
