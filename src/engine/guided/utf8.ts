import { byteRange, type ByteSet } from "./byte-set.ts"

/** An inclusive range of Unicode code points. */
export type CodePointRange = readonly [number, number]

export const MAX_CODE_POINT = 0x10ffff
const SURROGATES: CodePointRange = [0xd800, 0xdfff]

/** Sorted, non-overlapping, merged ranges without the surrogates (which UTF-8 cannot encode). */
export const normalizeRanges = (ranges: ReadonlyArray<CodePointRange>): Array<CodePointRange> => {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).map(([lo, hi]): CodePointRange => [Math.max(0, lo), Math.min(MAX_CODE_POINT, hi)]).sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi)
    else merged.push([lo, hi])
  }
  return subtractRanges(merged, [SURROGATES])
}

/** `ranges` minus `minus` (both sorted and merged). */
export const subtractRanges = (ranges: ReadonlyArray<CodePointRange>, minus: ReadonlyArray<CodePointRange>): Array<CodePointRange> => {
  let out: Array<CodePointRange> = [...ranges]
  for (const [mlo, mhi] of minus) {
    const next: Array<CodePointRange> = []
    for (const [lo, hi] of out) {
      if (hi < mlo || lo > mhi) next.push([lo, hi])
      else {
        if (lo < mlo) next.push([lo, mlo - 1])
        if (hi > mhi) next.push([mhi + 1, hi])
      }
    }
    out = next
  }
  return out
}

/** Every code point not in `ranges` (sorted, merged), surrogates excluded. */
export const complementRanges = (ranges: ReadonlyArray<CodePointRange>): Array<CodePointRange> =>
  subtractRanges([[0, MAX_CODE_POINT]], normalizeRanges(ranges)).filter(([lo, hi]) => lo <= hi)

export const utf8Encode = (cp: number): Array<number> => {
  if (cp < 0x80) return [cp]
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
}

const LENGTH_LIMITS = [0x7f, 0x7ff, 0xffff, MAX_CODE_POINT]

/**
 * The UTF-8 encodings of a code point range as byte-class sequences: every code point of the range is
 * spelt by exactly one sequence and every sequence spells only code points of the range (Go's
 * regexp/syntax and Rust's utf8-ranges split ranges the same way).
 */
export const utf8Sequences = (lo: number, hi: number): Array<Array<ByteSet>> => {
  const out: Array<Array<ByteSet>> = []
  const split = (lo: number, hi: number): void => {
    if (lo > hi) return
    // One encoded length per range.
    for (let i = 0; i < LENGTH_LIMITS.length - 1; i++) {
      const limit = LENGTH_LIMITS[i]
      if (lo <= limit && hi > limit) {
        split(lo, limit)
        split(limit + 1, hi)
        return
      }
    }
    const n = utf8Encode(lo).length
    // Split until each trailing 6-bit group spans either one value or its full range.
    for (let i = 1; i < n; i++) {
      const m = (1 << (6 * i)) - 1
      if ((lo & ~m) !== (hi & ~m)) {
        if ((lo & m) !== 0) {
          split(lo, lo | m)
          split((lo | m) + 1, hi)
          return
        }
        if ((hi & m) !== m) {
          split(lo, (hi & ~m) - 1)
          split(hi & ~m, hi)
          return
        }
      }
    }
    const a = utf8Encode(lo), b = utf8Encode(hi)
    out.push(a.map((x, i) => byteRange(x, b[i])))
  }
  for (const [slo, shi] of subtractRanges([[lo, hi]], [SURROGATES])) split(slo, shi)
  return out
}
