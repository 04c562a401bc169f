/**
 * A set of bytes (0-255) as eight 32-bit words: the alphabet of a grammar rule's edges. Byte level
 * (not characters) is what makes token masks exact for tokens holding part of a UTF-8 character.
 */
export type ByteSet = Uint32Array

export const emptyByteSet = (): ByteSet => new Uint32Array(8)

export const byteSetOf = (...bytes: ReadonlyArray<number>): ByteSet => {
  const s = emptyByteSet()
  for (const b of bytes) s[b >>> 5] |= 1 << (b & 31)
  return s
}

/** Bytes lo..hi inclusive. */
export const byteRange = (lo: number, hi: number): ByteSet => {
  const s = emptyByteSet()
  for (let b = lo; b <= hi; b++) s[b >>> 5] |= 1 << (b & 31)
  return s
}

export const hasByte = (s: ByteSet, b: number): boolean => (s[b >>> 5] & (1 << (b & 31))) !== 0

export const isEmptyByteSet = (s: ByteSet): boolean => {
  for (let i = 0; i < 8; i++) if (s[i] !== 0) return false
  return true
}

/** The bytes of `s`, ascending. */
export const bytesOf = (s: ByteSet): Array<number> => {
  const out: Array<number> = []
  for (let b = 0; b < 256; b++) if (hasByte(s, b)) out.push(b)
  return out
}
