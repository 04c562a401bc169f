/** Edit distance (insertions, deletions, substitutions) between two short strings. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}

/**
 * The known name closest to a misspelt one, when it is close enough to be what was meant (at most a
 * third of its letters wrong, or only separators differ: `routing-strategy` for `routing_strategy`).
 */
export const closestName = (name: string, known: Iterable<string>): string | undefined => {
  const normal = (s: string) => s.toLowerCase().replace(/[-_ ]/g, "")
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = normal(candidate) === normal(name) ? 0 : distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}

/** `; did you mean "x"?` when a known name is close, else nothing. */
export const didYouMean = (name: string, known: Iterable<string>): string => {
  const close = closestName(name, known)
  return close === undefined ? "" : `; did you mean "${close}"?`
}
