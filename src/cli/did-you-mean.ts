/** Edit distance (insertions, deletions, substitutions, adjacent transpositions) between two words. */
const distance = (a: string, b: string): number => {
  const d: Array<Array<number>> = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The known word closest to `word`, if it is close enough to be a plausible typo (at most a third of
 * its letters wrong, and never more than 3); a prefix of exactly one known word counts too.
 */
export const didYouMean = (word: string, known: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const dist = distance(word, k)
    if (dist < bestDistance) [best, bestDistance] = [k, dist]
  }
  if (best !== undefined && bestDistance <= Math.min(3, Math.ceil(word.length / 3))) return best
  const prefixed = known.filter((k) => word.length >= 3 && k.startsWith(word))
  return prefixed.length === 1 ? prefixed[0] : undefined
}
