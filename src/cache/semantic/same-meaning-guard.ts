import { oppositeSides } from "./opposites.ts"
import { type QueryFacts, queryFacts } from "./query-facts.ts"

/**
 * Why two queries that an embedding finds close are still different questions, checked in this order:
 *  - negation: a different count of not/no/never/without... ("turn on" vs "do not turn on")
 *  - number: different numbers, digits or words ("3 apples" vs "three apples" agree, vs "5 apples" not)
 *  - unit: different units or number-unit pairs ("5 km" vs "5 miles", "5 miles to km" vs "5 km to miles")
 *  - entity: a named thing of one (capitalized word, acronym, identifier) that the other does not name
 *  - quoted: different quoted strings or code spans
 *  - opposite: the two take opposite sides of an antonym pair ("on"/"off", "upload"/"download")
 *  - role: the same words swapped around a directional preposition ("from Paris to Berlin")
 *  - substitution: each has a content word the other lacks ("reverse a list" vs "sort a list"): a
 *    paraphrase may add or drop words, but when both sides replace one the question is usually another
 *    one. This costs some paraphrases ("delete" vs "remove") and is what keeps same-topic questions apart.
 */
export type GuardReason = "negation" | "number" | "unit" | "entity" | "quoted" | "opposite" | "role" | "substitution"

export type GuardVerdict =
  | { readonly same: true }
  | { readonly same: false; readonly reason: GuardReason; readonly detail: string }

const SAME: GuardVerdict = { same: true }
const differ = (reason: GuardReason, detail: string): GuardVerdict => ({ same: false, reason, detail })

const equal = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x, i) => x === b[i])
const missing = (names: ReadonlyArray<string>, other: QueryFacts) => names.filter((n) => !other.words.has(n))

/** A role swap: prep+x in one, prep+y in the other, both x and y in both texts (reordered, not reworded). */
const swappedRole = (a: QueryFacts, b: QueryFacts): string | undefined => {
  for (const [prep, x] of a.roles) {
    for (const [prepB, y] of b.roles) {
      if (prep !== prepB || x === y) continue
      const aHasY = a.stems.has(y), bHasX = b.stems.has(x)
      const sameInOther = b.roles.some(([p, t]) => p === prep && t === x) || a.roles.some(([p, t]) => p === prep && t === y)
      if (aHasY && bHasX && !sameInOther) return `${prep} ${x} / ${prep} ${y}`
    }
  }
  return undefined
}

/** Compares the facts of two queries (see GuardReason). */
export const sameMeaning = (a: QueryFacts, b: QueryFacts): GuardVerdict => {
  if (a.negations !== b.negations) return differ("negation", `${a.negations} vs ${b.negations} negations`)
  if (!equal(a.numbers, b.numbers)) return differ("number", `[${a.numbers}] vs [${b.numbers}]`)
  if (!equal(a.units, b.units) || !equal(a.quantities, b.quantities)) return differ("unit", `[${a.quantities}; ${a.units}] vs [${b.quantities}; ${b.units}]`)
  const entityGap = [...missing(a.entities, b), ...missing(b.entities, a)]
  if (entityGap.length > 0) return differ("entity", entityGap.join(", "))
  if (!equal(a.quoted, b.quoted)) return differ("quoted", `[${a.quoted}] vs [${b.quoted}]`)
  const opposite = oppositeSides(a.stems, b.stems)
  if (opposite !== undefined) return differ("opposite", opposite)
  const swap = swappedRole(a, b)
  if (swap !== undefined) return differ("role", swap)
  const onlyA = [...a.content].filter((s) => !b.stems.has(s)), onlyB = [...b.content].filter((s) => !a.stems.has(s))
  if (onlyA.length > 0 && onlyB.length > 0) return differ("substitution", `${onlyA.join(" ")} / ${onlyB.join(" ")}`)
  return SAME
}

/** Whether two query texts may share a cached answer as far as their wording tells (see GuardReason). */
export const sameMeaningGuard = (a: string, b: string): GuardVerdict => sameMeaning(queryFacts(a), queryFacts(b))
