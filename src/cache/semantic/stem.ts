/**
 * A light English stemmer for comparing words across paraphrases: plurals, -ing, -ed and -ly go, so
 * "boiling", "boiled" and "boils" meet at "boil". Cruder than Porter's, on purpose: it only needs to be
 * the same on both sides of a comparison, and a miss costs a cache hit, never a wrong answer.
 */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  is: "is", was: "was", has: "has", does: "do", this: "this", its: "it", us: "us", yes: "yes", news: "news",
  children: "child", men: "man", women: "woman", people: "person", feet: "foot", teeth: "tooth", mice: "mouse",
  better: "good", best: "good", worse: "bad", worst: "bad", bigger: "big", biggest: "big", large: "big", larger: "big", largest: "big"
}

export const stem = (word: string): string => {
  const known = EXCEPTIONS[word.toLowerCase()]
  if (known !== undefined) return known
  const w = singular(word.toLowerCase())
  if (w.length <= 3) return w
  if (w.endsWith("ing") && w.length > 5) return undouble(w.slice(0, -3))
  if (w.endsWith("ed") && w.length > 4) return undouble(w.endsWith("ied") ? w.slice(0, -3) + "y" : w.slice(0, -2))
  if (w.endsWith("ly") && w.length > 5) return w.slice(0, -2)
  if (w.endsWith("ment") && w.length > 7) return w.slice(0, -4)
  return w
}

const singular = (w: string): string => {
  if (w.length <= 3) return w
  if (w.endsWith("ies") && w.length > 4) return w.slice(0, -3) + "y"
  if (w.endsWith("sses") || w.endsWith("ches") || w.endsWith("shes") || w.endsWith("xes")) return w.slice(0, -2)
  if (w.endsWith("ss") || w.endsWith("us") || w.endsWith("is")) return w
  return w.endsWith("s") ? w.slice(0, -1) : w
}

/** "stopp" -> "stop", "runn" -> "run"; a trailing e dropped ("bake"/"baking" both "bak"). */
const undouble = (w: string): string => (w.length > 2 && w[w.length - 1] === w[w.length - 2] && !"lsz".includes(w[w.length - 1]) ? w.slice(0, -1) : w)

/** The stem of a word as the comparison uses it: with a final silent e dropped, so bake/baked/baking agree. */
export const comparableStem = (word: string): string => {
  const s = stem(word)
  return s.length > 3 && s.endsWith("e") && !s.endsWith("ee") ? s.slice(0, -1) : s
}
