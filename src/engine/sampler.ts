import { getRandomValues } from "node:crypto"
import { logSoftmax } from "./batch.ts"
import type { GuidedSequence } from "./guided/guided-sequence.ts"
import type { SamplingParams } from "./sampling-params.ts"

// ---------------------------------------------------------------------------------------------
// Per-request random numbers
// ---------------------------------------------------------------------------------------------

/** murmur3's 32-bit finaliser: a bijection on uint32 that spreads every input bit over the output. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

/**
 * xoshiro128** owned by one sequence. Each sequence draws from its own stream, so a seeded request
 * gets the same tokens whatever else shares the batch and in whatever order the batch is sampled.
 */
export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  private constructor(a: number, b: number, c: number, d: number, warmUp = true) {
    // The all-zero state is xoshiro's one fixed point.
    this.s0 = (a | b | c | d) === 0 ? 1 : a | 0
    this.s1 = b | 0
    this.s2 = c | 0
    this.s3 = d | 0
    // Nearby seeds start in nearby states; a few rounds make their streams unrelated.
    if (warmUp) for (let i = 0; i < 16; i++) this.nextUint32()
  }

  /** The stream's position as four uint32 words: restore() continues it exactly (disaggregated decode). */
  snapshot(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0]
  }

  /** The stream a snapshot() was taken of, at the same position. */
  static restore(state: ReadonlyArray<number>): Rng {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new RangeError(`an RNG state is four uint32 words, got ${JSON.stringify(state)}`)
    }
    return new Rng(state[0], state[1], state[2], state[3], false)
  }

  /**
   * The stream for sequence `sequenceIndex` of a request seeded with `seed` (any safe integer).
   * Distinct (seed, index) pairs give distinct states: each word is a bijection of one input.
   * Index 0 is the plain seeded stream, so sequence 0 of an n > 1 request matches the n = 1 request.
   */
  static seeded(seed: number, sequenceIndex = 0): Rng {
    const lo = seed - Math.floor(seed / 0x1_0000_0000) * 0x1_0000_0000
    const hi = Math.floor(seed / 0x1_0000_0000)
    return new Rng(fmix32(lo ^ 0x9e3779b9), fmix32(hi ^ 0x7f4a7c15), fmix32(sequenceIndex ^ 0x85ebca6b), fmix32((lo + hi + sequenceIndex) ^ 0x27d4eb2f))
  }

  /** An unpredictable stream, for requests without a seed. */
  static fromEntropy(): Rng {
    const w = getRandomValues(new Uint32Array(4))
    return new Rng(w[0], w[1], w[2], w[3])
  }

  /** The stream of sequence `sequenceIndex` of a request: seeded when it has a seed, else from entropy. */
  static forSequence(seed: number | null, sequenceIndex: number): Rng {
    return seed === null ? Rng.fromEntropy() : Rng.seeded(seed, sequenceIndex)
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1) with 53 random bits, so even tiny probabilities are reachable. */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6
    return (a * 67108864 + b) / 9007199254740992
  }
}

// ---------------------------------------------------------------------------------------------
// Shared work buffers
// ---------------------------------------------------------------------------------------------

/**
 * Vocab-sized buffers for one sampling call. Sampling is synchronous, so every request shares one set
 * instead of each holding its own (a few MB per request at a 150k vocabulary).
 */
class Scratch {
  readonly vocab: number
  /** The row being processed: raw logits, then penalised/biased/masked. */
  readonly work: Float64Array
  /** Candidate token ids, and their unnormalised probabilities at the same index. */
  readonly cand: Int32Array
  readonly prob: Float64Array
  /** A copy of `work` (top_k) or of `prob` (top_p) that selection may reorder. */
  readonly select: Float64Array

  constructor(vocab: number) {
    this.vocab = vocab
    this.work = new Float64Array(vocab)
    this.cand = new Int32Array(vocab)
    this.prob = new Float64Array(vocab)
    this.select = new Float64Array(vocab)
  }
}

let shared: Scratch | null = null
const scratchFor = (vocab: number): Scratch => {
  if (shared === null || shared.vocab < vocab) shared = new Scratch(vocab)
  return shared
}

/** Below this temperature sampling is greedy (vLLM's _SAMPLING_EPS). */
const GREEDY_TEMPERATURE = 1e-5

// ---------------------------------------------------------------------------------------------
// Small kernels
// ---------------------------------------------------------------------------------------------

/** Index of the largest value; the lowest index on ties. */
const argmax = (x: Float64Array, n: number): number => {
  let best = 0
  for (let i = 1; i < n; i++) if (x[i] > x[best]) best = i
  return best
}

/** argmax of x[off, off + n) as an index into that row, the lowest on ties (as argmax over a copy). */
const argmaxRow = (x: Float32Array, off: number, n: number): number => {
  let best = off
  for (let i = off + 1; i < off + n; i++) if (x[i] > x[best]) best = i
  return best - off
}

/** Where partitionDescending left its two halves: [lo, split[0]] and [split[1], hi]. */
const split = new Int32Array(2)

/**
 * Hoare partition of buf[lo..hi] around its middle value, descending: afterwards buf[lo..split[0]] >=
 * pivot >= buf[split[1]..hi], and anything strictly between the two halves equals the pivot.
 */
const partitionDescending = (buf: Float64Array, lo: number, hi: number): void => {
  const pivot = buf[(lo + hi) >>> 1]
  let i = lo, j = hi
  while (i <= j) {
    while (buf[i] > pivot) i++
    while (buf[j] < pivot) j--
    if (i <= j) {
      const t = buf[i]
      buf[i++] = buf[j]
      buf[j--] = t
    }
  }
  split[0] = j
  split[1] = i
}

/** The k-th largest of x[0..n) (1-based k), by quickselect on `buf` (overwritten). */
const kthLargest = (x: Float64Array, n: number, k: number, buf: Float64Array): number => {
  for (let i = 0; i < n; i++) buf[i] = x[i]
  const target = k - 1
  let lo = 0, hi = n - 1
  while (lo < hi) {
    partitionDescending(buf, lo, hi)
    if (target <= split[0]) hi = split[0]
    else if (target >= split[1]) lo = split[1]
    else break
  }
  return buf[target]
}

/**
 * top_p over the candidates cand/prob[0..n) (ascending ids): taking tokens highest probability first
 * (lower id first on ties), keeps each while the mass taken before it is still short of `needed`, so
 * at least one. A weighted quickselect finds the boundary probability in O(n) instead of sorting the
 * candidates, which for a flat distribution can be most of the vocabulary. Compacts in place, in id
 * order; returns the new count.
 */
const keepNucleus = (s: Scratch, n: number, needed: number): number => {
  const { cand, prob, select: buf } = s
  for (let j = 0; j < n; j++) buf[j] = prob[j]
  // Invariant: buf[0..lo) holds the largest values, in some order, and `above` is their mass.
  let lo = 0, hi = n - 1, above = 0
  let kept = -1
  while (lo < hi && kept < 0) {
    partitionDescending(buf, lo, hi)
    const j = split[0], i = split[1]
    let left = 0
    for (let t = lo; t <= j; t++) left += buf[t]
    if (above + left >= needed) {
      hi = j
      continue
    }
    above += left
    for (let t = j + 1; t < i && kept < 0; t++) {
      above += buf[t]
      if (above >= needed) kept = t + 1
    }
    lo = i
  }
  // The range narrowed to one position, or (rounding) ran out of tokens short of `needed`: keep through it.
  if (kept < 0) kept = Math.min(lo, hi) + 1
  const boundary = buf[kept - 1]
  // Tokens above the boundary are all in; of those tied with it, only the lowest ids fit in `kept`.
  let tiesKept = kept
  for (let j = 0; j < n; j++) if (prob[j] > boundary) tiesKept--
  let m = 0
  for (let j = 0; j < n; j++) {
    const p = prob[j]
    if (p > boundary || (p === boundary && tiesKept-- > 0)) {
      cand[m] = cand[j]
      prob[m++] = p
    }
  }
  return m
}

export interface TokenLogprob {
  readonly tokenId: number
  readonly logprob: number
}

/** The k largest log-probabilities, highest first, lower id first on ties. */
const topLogprobs = (lp: Float64Array, vocab: number, k: number): Array<TokenLogprob> => {
  const ids = new Int32Array(k)
  const vals = new Float64Array(k)
  let count = 0
  for (let i = 0; i < vocab; i++) {
    const v = lp[i]
    if (count === k && !(v > vals[k - 1])) continue
    let j = count < k ? count++ : k - 1
    // Strictly-less shifting keeps the earlier (lower) id ahead on ties.
    while (j > 0 && vals[j - 1] < v) {
      vals[j] = vals[j - 1]
      ids[j] = ids[j - 1]
      j--
    }
    vals[j] = v
    ids[j] = i
  }
  const out: Array<TokenLogprob> = []
  for (let j = 0; j < count; j++) out.push({ tokenId: ids[j], logprob: vals[j] })
  return out
}

/** vLLM's rank: how many tokens are at least as likely as this one (1 for a unique argmax). */
const rankOf = (lp: Float64Array, vocab: number, tokenId: number): number => {
  const v = lp[tokenId]
  let rank = 0
  for (let i = 0; i < vocab; i++) if (lp[i] >= v) rank++
  return rank
}

// ---------------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------------

export interface SampledToken {
  /** The token; -1 when guided decoding allowed no token at all (the vocabulary cannot spell what the grammar needs). */
  readonly tokenId: number
  /** Raw log-probability (log_softmax of the unprocessed logits); null unless logprobs were asked for. */
  readonly logprob: number | null
  /** 1-based rank of the sampled token under the raw distribution; null unless logprobs were asked for. */
  readonly rank: number | null
  /** The `logprobs` most likely tokens (empty for logprobs = 0); null unless logprobs were asked for. */
  readonly topLogprobs: ReadonlyArray<TokenLogprob> | null
}

/** Output-token counts for the penalties, updated as the output grows instead of recounted. */
interface PenaltyState {
  /** 1 where the token occurs in the prompt or the output (repetition penalty). */
  readonly seen: Uint8Array
  readonly seenIds: Array<number>
  /** Occurrences in the output (frequency and presence penalties). */
  readonly counts: Int32Array
  readonly outputIds: Array<number>
  /** Output tokens folded into the counts so far. */
  counted: number
}

/**
 * Chooses the next token of one sequence from its row of logits, with vLLM's semantics: repetition,
 * frequency and presence penalties, logit_bias, the guided-decoding mask, min_tokens masking, then
 * greedy or temperature / top_k / top_p / min_p sampling with one uniform draw from the sequence's own
 * RNG (so a seeded guided request stays reproducible whatever else is batched).
 */
export class RequestSampler {
  private readonly params: SamplingParams
  private readonly promptTokenIds: ArrayLike<number>
  private readonly rng: Rng
  private readonly greedy: boolean
  private readonly usesPenalties: boolean
  private readonly biasIds: Int32Array
  private readonly biasValues: Float64Array
  /** Masked until min_tokens outputs exist: every eos id and every stop_token_id. Guided: allowed only where the grammar may end. */
  private readonly minTokensMasked: Int32Array
  /** Logits of minTokensMasked's ids before the guided mask (restored where the grammar may end). */
  private readonly endLogits: Float64Array
  private penalties: PenaltyState | null = null
  private vocab = 0

  /**
   * `rng` is either the stream to draw from or the sequence's index within its request (0 for n = 1),
   * from which the stream is derived: from params.seed when set, else from entropy.
   */
  constructor(params: SamplingParams, eosTokenIds: ReadonlyArray<number>, promptTokenIds: ArrayLike<number>, rng: Rng | number = 0) {
    this.params = params
    this.promptTokenIds = promptTokenIds
    this.rng = typeof rng === "number" ? Rng.forSequence(params.seed, rng) : rng
    this.greedy = params.temperature < GREEDY_TEMPERATURE
    this.usesPenalties = params.repetitionPenalty !== 1 || params.frequencyPenalty !== 0 || params.presencePenalty !== 0
    const bias = params.logitBias === null ? [] : [...params.logitBias]
    this.biasIds = Int32Array.from(bias, ([id]) => id)
    this.biasValues = Float64Array.from(bias, ([, b]) => b)
    this.minTokensMasked = Int32Array.from(new Set([...eosTokenIds, ...params.stopTokenIds]))
    this.endLogits = new Float64Array(this.minTokensMasked.length)
  }

  /** Where this sequence's random stream is: what a decode-side sampler starts from (kv-transfer/). */
  rngState(): [number, number, number, number] {
    return this.rng.snapshot()
  }

  /**
   * Samples from row `row` of `logits` (rows of `vocabSize`), given this sequence's output so far and,
   * for guided decoding, the sequence's grammar position (which the caller advances with the token).
   */
  sample(logits: Float32Array, row: number, vocabSize: number, outputTokenIds: ReadonlyArray<number>, guided: GuidedSequence | null = null): SampledToken {
    let tokenId: number
    if (this.greedy && guided === null && this.leavesLogitsAsTheyAre(outputTokenIds)) {
      // Nothing changes the row: its argmax as it is (the same token; no copy of a vocabulary-wide row).
      tokenId = argmaxRow(logits, row * vocabSize, vocabSize)
    } else {
      const s = this.process(logits, row, vocabSize, outputTokenIds, guided)
      tokenId = this.greedy ? argmax(s.work, vocabSize) : this.sampleRandom(s, vocabSize)
      if (guided !== null && s.work[tokenId] === -Infinity) tokenId = -1
    }

    const k = this.params.logprobs
    if (k === null || tokenId < 0) return { tokenId, logprob: null, rank: null, topLogprobs: null }
    // vLLM v1 default ("raw_logprobs"): the model's distribution, before any penalty or filter.
    const lp = logSoftmax(logits, row, vocabSize)
    return { tokenId, logprob: lp[tokenId], rank: rankOf(lp, vocabSize, tokenId), topLogprobs: k > 0 ? topLogprobs(lp, vocabSize, k) : [] }
  }

  /**
   * The row after penalties, logit_bias and min_tokens masking: what greedy takes the argmax of and
   * temperature sampling starts from. A copy, for inspection; sampling uses the shared buffer.
   */
  processedLogits(logits: Float32Array, row: number, vocabSize: number, outputTokenIds: ReadonlyArray<number>, guided: GuidedSequence | null = null): Float64Array {
    return this.process(logits, row, vocabSize, outputTokenIds, guided).work.slice(0, vocabSize)
  }

  /** No penalty, logit bias or min_tokens mask applies to this step's row. */
  private leavesLogitsAsTheyAre(outputTokenIds: ReadonlyArray<number>): boolean {
    return !this.usesPenalties && this.biasIds.length === 0 && outputTokenIds.length >= this.params.minTokens
  }

  /** Copies the row into the shared work buffer and applies penalties, bias, the guided mask and the min_tokens mask. */
  private process(logits: Float32Array, row: number, vocabSize: number, outputTokenIds: ReadonlyArray<number>, guided: GuidedSequence | null): Scratch {
    if (this.vocab === 0) this.vocab = vocabSize
    else if (this.vocab !== vocabSize) throw new RangeError(`vocab size changed from ${this.vocab} to ${vocabSize}`)
    const s = scratchFor(vocabSize)
    const w = s.work
    const off = row * vocabSize
    for (let i = 0; i < vocabSize; i++) w[i] = logits[off + i]
    if (this.usesPenalties) this.applyPenalties(w, vocabSize, outputTokenIds)
    for (let j = 0; j < this.biasIds.length; j++) w[this.biasIds[j]] += this.biasValues[j]
    if (guided !== null) this.applyGuided(w, vocabSize, guided)
    if (outputTokenIds.length < this.params.minTokens) {
      for (let j = 0; j < this.minTokensMasked.length; j++) {
        const id = this.minTokensMasked[j]
        if (id >= 0 && id < vocabSize) w[id] = -Infinity
      }
    }
    return s
  }

  /**
   * Masks every token the grammar does not allow here. End tokens (eos, stop_token_ids) are not grammar
   * text: they keep their logit where the grammar may end (unless ignore_eos), and are masked elsewhere.
   */
  private applyGuided(w: Float64Array, vocab: number, guided: GuidedSequence): void {
    const ends = this.minTokensMasked
    const endsAllowed = guided.canEnd && !this.params.ignoreEos
    if (endsAllowed) for (let j = 0; j < ends.length; j++) this.endLogits[j] = ends[j] < vocab ? w[ends[j]] : -Infinity
    const mask = guided.allowedTokens()
    const words = Math.min(mask.length, (vocab + 31) >>> 5)
    for (let word = 0; word < words; word++) {
      const bits = mask[word]
      if (bits === 0xffffffff) continue
      const base = word << 5
      const end = Math.min(32, vocab - base)
      for (let b = 0; b < end; b++) if ((bits & (1 << b)) === 0) w[base + b] = -Infinity
    }
    for (let i = words << 5; i < vocab; i++) w[i] = -Infinity
    if (endsAllowed) for (let j = 0; j < ends.length; j++) if (ends[j] < vocab) w[ends[j]] = this.endLogits[j]
  }

  /** Whether a token is an end token (eos or a stop_token_id): not grammar text. */
  isEndToken(tokenId: number): boolean {
    return this.minTokensMasked.includes(tokenId)
  }

  /** Repetition penalty over prompt + output, then frequency and presence penalties over the output. */
  private applyPenalties(w: Float64Array, vocab: number, output: ReadonlyArray<number>): void {
    let st = this.penalties
    // Output only grows; a shorter one means the sequence was reset, so recount.
    if (st === null || output.length < st.counted) st = this.penalties = this.initPenalties(vocab)
    for (; st.counted < output.length; st.counted++) {
      const t = output[st.counted]
      if (t < 0 || t >= vocab) continue
      if (st.seen[t] === 0) {
        st.seen[t] = 1
        st.seenIds.push(t)
      }
      if (st.counts[t]++ === 0) st.outputIds.push(t)
    }
    const rep = this.params.repetitionPenalty
    if (rep !== 1) {
      for (const t of st.seenIds) w[t] = w[t] > 0 ? w[t] / rep : w[t] * rep
    }
    const freq = this.params.frequencyPenalty, presence = this.params.presencePenalty
    if (freq !== 0 || presence !== 0) {
      for (const t of st.outputIds) w[t] -= freq * st.counts[t] + presence
    }
  }

  private initPenalties(vocab: number): PenaltyState {
    const st: PenaltyState = { seen: new Uint8Array(vocab), seenIds: [], counts: new Int32Array(vocab), outputIds: [], counted: 0 }
    const prompt = this.promptTokenIds
    for (let i = 0; i < prompt.length; i++) {
      const t = prompt[i]
      if (t >= 0 && t < vocab && st.seen[t] === 0) {
        st.seen[t] = 1
        st.seenIds.push(t)
      }
    }
    return st
  }

  /** Temperature, top_k, top_p, min_p, then inverse-CDF sampling over what is left. */
  private sampleRandom(s: Scratch, vocab: number): number {
    // Exactly one draw per token, whatever the filters leave, keeps a seeded stream aligned with steps.
    const u = this.rng.nextFloat()
    const { work: w, cand, prob } = s
    const top = argmax(w, vocab)
    const max = w[top]
    // All masked (-Infinity) leaves nothing to sample; an infinite logit is a certainty.
    if (!Number.isFinite(max)) return top
    const invT = 1 / this.params.temperature
    const { topK, topP, minP } = this.params

    // Candidates with exp((logit - max) / T): the top token has probability weight 1.
    const floor = topK > 0 && topK < vocab ? kthLargest(w, vocab, topK, s.select) : -Infinity
    let n = 0
    let total = 0
    for (let i = 0; i < vocab; i++) {
      const x = w[i]
      if (x >= floor && x > -Infinity) {
        const p = Math.exp((x - max) * invT)
        cand[n] = i
        prob[n++] = p
        total += p
      }
    }

    if (topP < 1) n = keepNucleus(s, n, topP * total)

    if (minP > 0) {
      // The top token survives every filter, so its weight is 1 and min_p * 1 is the threshold.
      let kept = 0
      for (let j = 0; j < n; j++) {
        if (prob[j] >= minP) {
          cand[kept] = cand[j]
          prob[kept++] = prob[j]
        }
      }
      n = kept
    }

    let sum = 0
    for (let j = 0; j < n; j++) sum += prob[j]
    const target = u * sum
    let cum = 0
    for (let j = 0; j < n; j++) {
      cum += prob[j]
      if (target < cum) return cand[j]
    }
    return cand[n - 1]
  }
}

// ---------------------------------------------------------------------------------------------
// Prompt logprobs
// ---------------------------------------------------------------------------------------------

export interface PromptTokenLogprob {
  /** The prompt token at this position. */
  readonly tokenId: number
  readonly logprob: number
  readonly rank: number
  readonly topLogprobs: ReadonlyArray<TokenLogprob>
}

/**
 * Prompt logprobs from the logits rows of consecutive prompt positions: row `firstRow + r` holds the
 * logits at position `startPosition + r`, which score prompt token `startPosition + r + 1`. Returns one
 * entry per scored prompt position (rows past the prompt's end are ignored); position 0 has no
 * context and gets null, as in vLLM, so the results of successive prefill chunks concatenate to one
 * entry per prompt token.
 */
export const promptLogprobs = (
  logits: Float32Array,
  rows: number,
  vocabSize: number,
  promptTokenIds: ArrayLike<number>,
  k: number,
  startPosition = 0,
  firstRow = 0
): Array<PromptTokenLogprob | null> => {
  const out: Array<PromptTokenLogprob | null> = startPosition === 0 ? [null] : []
  for (let r = 0; r < rows && startPosition + r + 1 < promptTokenIds.length; r++) {
    const lp = logSoftmax(logits, firstRow + r, vocabSize)
    const tokenId = promptTokenIds[startPosition + r + 1]
    out.push({ tokenId, logprob: lp[tokenId], rank: rankOf(lp, vocabSize, tokenId), topLogprobs: k > 0 ? topLogprobs(lp, vocabSize, k) : [] })
  }
  return out
}
