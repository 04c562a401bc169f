import { Effect } from "effect"
import { type Embedder, unitVector } from "./embedder.ts"
import { loadWordTable, type WordTable } from "./word-table.ts"
import { wordsOf } from "./words.ts"

/**
 * The built-in, offline embedder: smooth inverse frequency (SIF, Arora, Liang & Ma 2017) averages of
 * word vectors. A text's vector is the mean of its words' vectors, each weighted a / (a + p(w)) so that
 * frequent words ("the", "how", "is") count little and rare, meaningful ones count much, scaled to
 * length 1. SIF's second step, removing the common component, is optional and off by default: on the
 * labelled pairs (bench/semantic-cache.ts) it lowered the paraphrase hit rate at every false-hit rate.
 *
 * Words outside the table get a pseudo-random vector drawn from a hash of the word, with the weight of
 * the rarest word: "install kubectl" and "install pytorch" must not both shrink to "install".
 */
export interface SifOptions {
  /** SIF's smoothing: weights a / (a + p(w)). */
  readonly a?: number
  /** Remove the projection on the common component (see `commonComponent`); default false. */
  readonly removeCommonComponent?: boolean
}

export const DEFAULT_SIF_A = 1e-3

/** FNV-1a of the word, then mulberry32: the same word always draws the same vector. */
const hashedVector = (word: string, dimensions: number, norm: number): Float64Array => {
  let h = 0x811c9dc5
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193)
  let state = h >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const v = new Float64Array(dimensions)
  let sum = 0
  for (let d = 0; d < dimensions; d++) {
    v[d] = next() * 2 - 1
    sum += v[d] * v[d]
  }
  const scale = norm / Math.sqrt(sum)
  for (let d = 0; d < dimensions; d++) v[d] *= scale
  return v
}

/** Adds weight * (the word's vector) to `into`. */
const addRow = (table: WordTable, row: number, weight: number, into: Float64Array) => {
  const w = weight * table.scales[row]
  const base = row * table.dimensions
  for (let d = 0; d < table.dimensions; d++) into[d] += w * table.vectors[base + d]
}

/**
 * The direction SIF removes: the first singular vector of many sentence averages is, for averages of
 * more than a few words, their mean direction, which is the frequency-weighted mean of the weighted word
 * vectors, sum p(w) * a/(a+p(w)) * v(w). Computed from the table itself, not from any evaluation text.
 */
export const commonComponent = (table: WordTable, a: number): Float32Array => {
  const sum = new Float64Array(table.dimensions)
  for (let row = 0; row < table.size; row++) {
    const p = table.probabilities[row]
    addRow(table, row, p * (a / (a + p)), sum)
  }
  return unitVector(sum)
}

/** The mean length of the table's vectors: the length given to the vectors of unknown words. */
const meanNorm = (table: WordTable): number => {
  let total = 0
  for (let row = 0; row < table.size; row++) {
    let s = 0
    for (let d = 0; d < table.dimensions; d++) s += table.vectors[row * table.dimensions + d] ** 2
    total += Math.sqrt(s) * table.scales[row]
  }
  return total / table.size
}

/** The SIF vector of one text (length 1; all zeros for a text without words). */
export const makeSifEmbedding = (table: WordTable, options: SifOptions = {}) => {
  const a = options.a ?? DEFAULT_SIF_A
  const component = options.removeCommonComponent === true ? commonComponent(table, a) : undefined
  const unknownNorm = meanNorm(table)
  let rarest = Infinity
  for (let row = 0; row < table.size; row++) rarest = Math.min(rarest, table.probabilities[row])
  const unknownWeight = a / (a + rarest)
  return (text: string): Float32Array => {
    const sum = new Float64Array(table.dimensions)
    const words = wordsOf(text)
    for (const word of words) {
      const row = table.rowOf(word)
      if (row !== undefined) addRow(table, row, a / (a + table.probabilities[row]), sum)
      else {
        const v = hashedVector(word, table.dimensions, unknownNorm)
        for (let d = 0; d < table.dimensions; d++) sum[d] += unknownWeight * v[d]
      }
    }
    // (The mean's 1/n does not change the direction, and the vector is scaled to length 1 below.)
    if (component !== undefined) {
      let dot = 0
      for (let d = 0; d < table.dimensions; d++) dot += sum[d] * component[d]
      for (let d = 0; d < table.dimensions; d++) sum[d] -= dot * component[d]
    }
    return unitVector(sum)
  }
}

/**
 * The built-in embedder over the shipped word table (loaded on first use, ~11 MB). Embedding is
 * synchronous, a few microseconds per word.
 */
export const makeSifEmbedder = (options: SifOptions & { readonly table?: WordTable } = {}): Embedder => {
  let embedOne: ((text: string) => Float32Array) | undefined
  const embedding = () => (embedOne ??= makeSifEmbedding(options.table ?? loadWordTable(), options))
  const a = options.a ?? DEFAULT_SIF_A
  return {
    id: `builtin:glove-sif-100d:a=${a}${options.removeCommonComponent === true ? ":pc1" : ""}`,
    dimensions: () => 100,
    embed: (texts) => Effect.sync(() => texts.map(embedding()))
  }
}
