import { comparableStem } from "./stem.ts"
import { loadWordProbabilities } from "./word-table.ts"

/**
 * Words that frame a request rather than say what it is about: "explain", "tell me", "the best way to",
 * "what's the difference". A paraphrase may add, drop or swap them freely, so the guard's
 * content-word comparison leaves them out, together with the words common enough in spoken English
 * (SUBTLEXus probability >= `COMMON_PROBABILITY`: the ~50 most frequent words, "the", "what", "know";
 * at 1e-3, "love", "back" and "good" would count as framing and "back pain" would match "knee pain").
 */
const REQUEST_WORDS = [
  "explain", "explanation", "describe", "description", "define", "definition", "tell", "give", "share", "show",
  "suggest", "suggestion", "recommend", "recommendation", "summarize", "summarise", "summary",
  "please", "help", "know", "want", "wonder", "curious", "question", "quick", "hey", "hi", "hello", "thanks",
  "way", "ways", "best", "good", "method", "steps", "step", "tips", "tip", "advice", "idea", "ideas", "reason", "reasons",
  "mean", "meaning", "differ", "difference", "different", "versus", "vs", "exactly", "actually", "really", "basically",
  "possible", "able", "simple", "simply", "easiest", "quickest", "proper", "properly", "correct", "correctly",
  "find", "see", "look", "learn", "understand", "use", "effective", "effectively", "kind", "type", "role",
  "purpose", "job", "okay", "ok", "fine", "someone", "one", "anyone", "somebody", "people", "person", "thing", "things",
  "stand", "short", "form", "called", "main", "mainly", "usually", "typically", "generally", "exist",
  "located", "location", "situated", "origin", "come", "comes", "happen", "happens", "work", "works",
  "should", "could", "would", "might", "must", "can", "will", "need", "needs", "do", "does", "did", "done",
  "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "get", "got", "make", "makes", "made"
]

/** Words at least this probable count as common (see `isCommonWord`). */
export const COMMON_PROBABILITY = 3e-3

let common: ReadonlySet<string> | undefined
const requestStems = new Set(REQUEST_WORDS.map(comparableStem))

/** The common words' stems, loaded once from the built-in word table's probabilities (~1 MB). */
const commonStems = (): ReadonlySet<string> => {
  if (common !== undefined) return common
  const set = new Set<string>(requestStems)
  for (const [word, p] of loadWordProbabilities()) if (p >= COMMON_PROBABILITY) set.add(comparableStem(word))
  return (common = set)
}

/** Whether a word (by stem) only frames a request or is too common to carry its subject. */
export const isFramingWord = (stemmed: string): boolean => commonStems().has(stemmed)
