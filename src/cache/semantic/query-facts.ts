import { isFramingWord } from "./common-words.ts"
import { comparableStem } from "./stem.ts"
import { CURRENCY_SYMBOLS, unitOf } from "./units.ts"
import { isNumberWord, ORDINALS, valueOfNumberWords } from "./written-numbers.ts"
import { expandContractions } from "./words.ts"

/**
 * What a query says that an embedding may blur, as sets a guard can compare exactly (see
 * same-meaning-guard.ts): its negations, numbers, units and quantities, named things, quoted strings,
 * stems, and which words follow a directional preposition.
 */
export interface QueryFacts {
  readonly negations: number
  /** Canonical numbers ("3", "0.5", "#3" for an ordinal, "1920s"), sorted. */
  readonly numbers: ReadonlyArray<string>
  /** Canonical units named anywhere, sorted, without repeats. */
  readonly units: ReadonlyArray<string>
  /** Number-and-unit pairs ("5 km"), sorted. */
  readonly quantities: ReadonlyArray<string>
  /** Named things, lowercase: capitalized words past a sentence's start, acronyms, identifiers. */
  readonly entities: ReadonlyArray<string>
  /** Quoted strings and code spans, exactly as written. */
  readonly quoted: ReadonlyArray<string>
  /** The stems of all words. */
  readonly stems: ReadonlySet<string>
  /** The lowercase words (possessives stripped). */
  readonly words: ReadonlySet<string>
  /** Stems of the words that say what the query is about (not framing, common or number words). */
  readonly content: ReadonlySet<string>
  /** "to integer", "from paris", "than python": a directional preposition and the word it governs. */
  readonly roles: ReadonlyArray<readonly [string, string]>
}

const QUOTED = /"([^"]+)"|\u201c([^\u201d]+)\u201d|`([^`]+)`|(?<=^|[\s(])'([^']+)'(?=$|[\s.,;:!?)])/g
/** Hex literals, numbers (with an attached suffix: 3rd, 200mg, 1990s), currency/percent/degree signs, words, sentence ends. */
const TOKEN = /0x[0-9a-f]+|\d+(?:[.,]\d+)*[\p{L}%°]*|[$€£¥%]|°[cf]?(?!\p{L})|\p{L}[\p{L}\p{N}']*(?:(?:[._@]|::)[\p{L}\p{N}]+)*|[.!?;:]/giu
const NEGATIONS = new Set(["not", "no", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "cannot", "without"])
/** "from" is left out: "remove duplicates from an array in JavaScript" / "from a JavaScript array". */
const ROLE_PREPOSITIONS: Readonly<Record<string, string>> = { to: "to", into: "to", onto: "to", toward: "to", towards: "to", than: "than" }
const DETERMINERS = new Set(["a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that", "these", "those", "some", "any"])
/** "one" after these is a pronoun ("how does one", "which one"), not the number 1. */
const PRONOUN_ONE_AFTER = new Set(["does", "do", "did", "can", "could", "would", "should", "will", "may", "might", "must", "which", "that", "this", "the", "each", "every", "any", "no", "another", "some"])

type Token = { readonly text: string; readonly lower: string; readonly sentenceStart: boolean }

const tokensOf = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let sentenceStart = true
  for (const m of text.matchAll(TOKEN)) {
    const t = m[0]
    if (/^[.!?;:]$/.test(t)) {
      sentenceStart = true
      continue
    }
    tokens.push({ text: t, lower: t.toLowerCase().replace(/'s?$/, ""), sentenceStart })
    sentenceStart = false
  }
  return tokens
}

/**
 * Identifiers (os.path.join, iPhone, S24) and acronyms anywhere, capitalized words past a sentence's
 * start. A capitalized first word may be a name ("Paris") or not ("Translate"): it is left to the
 * content-word comparison, which tells "Paris ..." from "Berlin ..." too.
 */
const isEntity = (t: Token, allCaps: boolean): boolean => {
  if (/(?:[._@]|::)/.test(t.text) || /\p{Ll}\p{Lu}/u.test(t.text) || (/\p{L}/u.test(t.text) && /\d/.test(t.text))) return true
  if (allCaps || !/^\p{Lu}/u.test(t.text) || t.text === "I") return false
  return /^\p{Lu}{2,}$/u.test(t.text) || !t.sentenceStart
}

/** Thousands separators go; a number with a point stays as written ("3.10" is not "3.1": versions). */
const canonicalNumber = (digits: string): string => {
  const plain = digits.replace(/,/g, "")
  return plain.includes(".") ? plain : String(Number(plain))
}

/** Reads the numbers, units and quantities of the tokens, in order. */
const measures = (tokens: ReadonlyArray<Token>) => {
  const numbers: Array<string> = [], units = new Set<string>(), quantities: Array<string> = []
  const numeric = new Set<number>() // token indexes that are (part of) a number
  let pendingCurrency: string | undefined
  const addNumber = (value: string, next: number) => {
    numbers.push(value)
    const unit = pendingCurrency ?? (next < tokens.length ? unitOf(tokens[next].lower, true) : undefined)
    if (unit !== undefined) quantities.push(`${value} ${unit}`)
    pendingCurrency = undefined
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]
    if (CURRENCY_SYMBOLS.has(t.text)) {
      pendingCurrency = unitOf(t.text, false)
      units.add(pendingCurrency!)
      continue
    }
    const number = /^(0x[0-9a-f]+|\d+(?:[.,]\d+)*)(\p{L}*|%|°[cf]?)$/iu.exec(t.lower)
    if (number !== null) {
      numeric.add(i)
      const [, digits, suffix] = number
      const value = digits.startsWith("0x") ? digits : canonicalNumber(digits)
      if (/^(st|nd|rd|th)$/.test(suffix)) addNumber(`#${value}`, i + 1)
      else if (suffix === "s") addNumber(`${value}s`, i + 1)
      else if (suffix === "") addNumber(value, i + 1)
      else {
        const unit = unitOf(suffix, true)
        if (unit === undefined) numbers.push(`${value}${suffix}`) // 3d, 4k, 5pm
        else numbers.push(value), units.add(unit), quantities.push(`${value} ${unit}`)
      }
      continue
    }
    if (t.lower in ORDINALS && !(t.lower === "second" && i > 0 && numeric.has(i - 1))) {
      numeric.add(i)
      addNumber(`#${ORDINALS[t.lower]}`, i + 1)
      continue
    }
    if (isNumberWord(t.lower) && !(t.lower === "one" && i > 0 && PRONOUN_ONE_AFTER.has(tokens[i - 1].lower))) {
      const run: Array<string> = []
      let j = i
      for (; j < tokens.length && (isNumberWord(tokens[j].lower) || (tokens[j].lower === "and" && run.length > 0 && j + 1 < tokens.length && isNumberWord(tokens[j + 1].lower))); j++) {
        numeric.add(j)
        if (tokens[j].lower !== "and") run.push(tokens[j].lower)
      }
      addNumber(String(valueOfNumberWords(run)), j)
      i = j - 1
      continue
    }
    const unit = unitOf(t.lower, i > 0 && numeric.has(i - 1))
    if (unit !== undefined) units.add(unit)
  }
  return { numbers: numbers.sort(), units: [...units].sort(), quantities: quantities.sort(), numeric }
}

/** The query's facts (see QueryFacts). */
export const queryFacts = (text: string): QueryFacts => {
  const quoted: Array<string> = []
  const unquoted = text.normalize("NFKC").replace(/[\u2018\u2019\u02bc]/g, "'").replace(QUOTED, (...m: Array<string | undefined>) => {
    quoted.push((m[1] ?? m[2] ?? m[3] ?? m[4] ?? "").trim())
    return " ; "
  }).replace(/\bkm\/h\b/gi, "kph")
  const tokens = tokensOf(unquoted)
  const allCaps = !/\p{Ll}/u.test(unquoted)
  const { numbers, units, quantities, numeric } = measures(tokens)
  const entities = new Set<string>()
  tokens.forEach((t, i) => {
    if (!numeric.has(i) && isEntity(t, allCaps)) entities.add(t.lower)
  })
  // Negations and stems from the expanded text: "don't" is "do not".
  const plain = expandContractions(unquoted).split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0)
  const negations = plain.filter((w) => NEGATIONS.has(w)).length
  const words = new Set(tokens.filter((_, i) => !numeric.has(i)).map((t) => t.lower))
  for (const w of plain) words.add(w)
  const stems = new Set([...words].map(comparableStem))
  const content = new Set(
    plain.filter((w) => /\p{L}/u.test(w) && !NEGATIONS.has(w) && unitOf(w, true) === undefined && !isNumberWord(w) && !(w in ORDINALS))
      .map(comparableStem).filter((s) => !isFramingWord(s))
  )
  return { negations, numbers, units, quantities, entities: [...entities].sort(), quoted: quoted.sort(), stems, words, content, roles: rolesOf(tokens, numeric) }
}

/** Each directional preposition with the next word that is not a determiner. */
const rolesOf = (tokens: ReadonlyArray<Token>, numeric: ReadonlySet<number>): Array<readonly [string, string]> => {
  const roles: Array<readonly [string, string]> = []
  tokens.forEach((t, i) => {
    const role = ROLE_PREPOSITIONS[t.lower]
    if (role === undefined) return
    let j = i + 1
    while (j < tokens.length && DETERMINERS.has(tokens[j].lower)) j++
    if (j < tokens.length && !numeric.has(j)) roles.push([role, comparableStem(tokens[j].lower)])
  })
  return roles
}
