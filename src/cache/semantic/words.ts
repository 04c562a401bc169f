/**
 * Words of a text for the built-in embedder, split the way its word vectors were (GloVe's Stanford
 * tokenizer lowercased): contractions become their words ("don't" -> "do not", "I'm" -> "i am"), the
 * possessive/clitic 's is dropped (it could be is, has or a possessive, and carries little meaning), and
 * everything that is not a letter or a digit separates words. The derivation of the shipped vectors
 * (tools/derive-word-vectors.ts) keeps only words this function can produce.
 */

const APOSTROPHES = /[\u2018\u2019\u02bc\u0060\u00b4]/g
const CONTRACTIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bcan't\b/g, "can not"],
  [/\bwon't\b/g, "will not"],
  [/\bshan't\b/g, "shall not"],
  [/\bain't\b/g, "is not"],
  [/n't\b/g, " not"],
  [/'re\b/g, " are"],
  [/'m\b/g, " am"],
  [/'ll\b/g, " will"],
  [/'ve\b/g, " have"],
  [/'d\b/g, " would"],
  [/'s\b/g, ""]
]
const SEPARATORS = /[^\p{L}\p{N}]+/u

/** What a word of the vocabulary looks like: lowercase letters and digits only. */
export const WORD = /^[\p{Ll}\p{Lo}\p{N}]+$/u

/** The text lowercased with its contractions spelled out and its apostrophes made plain. */
export const expandContractions = (text: string): string => {
  let t = text.normalize("NFKC").replace(APOSTROPHES, "'").toLowerCase()
  for (const [pattern, replacement] of CONTRACTIONS) t = t.replace(pattern, replacement)
  return t
}

/** The lowercase words of a text, in order. */
export const wordsOf = (text: string): Array<string> => expandContractions(text).split(SEPARATORS).filter((w) => w.length > 0)
