import * as fs from "node:fs"
import * as path from "node:path"

/**
 * The built-in embedder's words: GloVe 6B 100-d vectors (int8, one float32 scale per word) and unigram
 * probabilities from SUBTLEXus, for the 100,000 most frequent words, derived by
 * tools/derive-word-vectors.ts from two npm packages (provenance and licences in the directory's
 * README). Float arrays are little-endian.
 */
export interface WordTable {
  readonly dimensions: number
  readonly size: number
  /** The word's row, or undefined when it is not in the table. */
  readonly rowOf: (word: string) => number | undefined
  readonly vectors: Int8Array
  readonly scales: Float32Array
  readonly probabilities: Float32Array
}

export const WORD_TABLE_DIR = path.join(import.meta.dirname, "..", "..", "..", "models", "glove-sif-100d")
const DIMENSIONS = 100

const floats = (file: string): Float32Array => {
  const bytes = fs.readFileSync(file)
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}

/** Reads the table (~11 MB of files; ~30 ms). Throws when its files are missing or disagree in size. */
export const loadWordTable = (dir: string = WORD_TABLE_DIR): WordTable => {
  const words = fs.readFileSync(path.join(dir, "words.txt"), "utf8").split("\n").filter((w) => w.length > 0)
  const bytes = fs.readFileSync(path.join(dir, "vectors.i8"))
  const vectors = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const scales = floats(path.join(dir, "scales.f32"))
  const probabilities = floats(path.join(dir, "probabilities.f32"))
  const size = words.length
  if (vectors.length !== size * DIMENSIONS || scales.length !== size || probabilities.length !== size) {
    throw new Error(`The word table in ${dir} is inconsistent: ${size} words, ${vectors.length} vector bytes, ${scales.length} scales, ${probabilities.length} probabilities.`)
  }
  const rows = new Map<string, number>()
  words.forEach((w, i) => rows.set(w, i))
  return { dimensions: DIMENSIONS, size, rowOf: (w) => rows.get(w), vectors, scales, probabilities }
}

/**
 * The table's unigram probabilities by word, without the vectors (for the guard, which needs to know
 * which words are common whatever the embedder).
 */
export const loadWordProbabilities = (dir: string = WORD_TABLE_DIR): ReadonlyMap<string, number> => {
  const words = fs.readFileSync(path.join(dir, "words.txt"), "utf8").split("\n").filter((w) => w.length > 0)
  const probabilities = floats(path.join(dir, "probabilities.f32"))
  return new Map(words.map((w, i) => [w, probabilities[i]]))
}
