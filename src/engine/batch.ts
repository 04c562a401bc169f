import type { ForwardBatch } from "./model.ts"

/** The part of one sequence that an engine step computes. */
export interface SequenceChunk {
  /** Tokens computed in this step (a prefill chunk, or the one token being decoded). */
  readonly tokenIds: ArrayLike<number>
  /** Tokens of this sequence already in the KV cache before the step (its first new position). */
  readonly startPosition: number
  /** Physical block of each logical block of the sequence; must cover startPosition + tokenIds.length. */
  readonly blockTable: Int32Array
  /** Which of this chunk's rows need logits: its last token, every token (prompt logprobs), or none. */
  readonly logits: "last" | "all" | "none"
  /**
   * Which of its rows' final hidden states are wanted (embeddings: "all" for mean pooling, "last" for
   * last-token pooling, on the chunk that ends the prompt); none when absent.
   */
  readonly hidden?: "last" | "all" | "none"
}

/** Flattens the chunks of one step into the forward pass's input (positions, slot mapping, logits rows). */
export const buildForwardBatch = (chunks: ReadonlyArray<SequenceChunk>, blockSize: number): ForwardBatch => {
  let total = 0, logitRows = 0, hiddenRows = 0
  for (const c of chunks) {
    total += c.tokenIds.length
    logitRows += rowsWanted(c.logits, c.tokenIds.length)
    hiddenRows += rowsWanted(c.hidden ?? "none", c.tokenIds.length)
  }
  const tokenIds = new Int32Array(total)
  const positions = new Int32Array(total)
  const seqIndex = new Int32Array(total)
  const slotMapping = new Int32Array(total)
  const logitsIndices = new Int32Array(logitRows)
  const hiddenIndices = new Int32Array(hiddenRows)
  let t = 0, li = 0, hi = 0
  chunks.forEach((c, s) => {
    const n = c.tokenIds.length
    const needed = Math.ceil((c.startPosition + n) / blockSize)
    if (c.blockTable.length < needed) {
      throw new RangeError(`sequence ${s}: block table has ${c.blockTable.length} blocks, ${needed} needed for ${c.startPosition + n} tokens`)
    }
    for (let i = 0; i < n; i++, t++) {
      const pos = c.startPosition + i
      tokenIds[t] = c.tokenIds[i]
      positions[t] = pos
      seqIndex[t] = s
      slotMapping[t] = c.blockTable[Math.floor(pos / blockSize)] * blockSize + (pos % blockSize)
      if (c.logits === "all" || (c.logits === "last" && i === n - 1)) logitsIndices[li++] = t
      if (c.hidden === "all" || (c.hidden === "last" && i === n - 1)) hiddenIndices[hi++] = t
    }
  })
  return { tokenIds, positions, seqIndex, slotMapping, blockTables: chunks.map((c) => c.blockTable), logitsIndices, hiddenIndices }
}

const rowsWanted = (which: "last" | "all" | "none", tokens: number) => (which === "all" ? tokens : which === "last" && tokens > 0 ? 1 : 0)

/** log-softmax of one row of logits, in f64. */
export const logSoftmax = (logits: Float32Array, row: number, vocab: number): Float64Array => {
  const out = new Float64Array(vocab)
  const off = row * vocab
  let max = -Infinity
  for (let i = 0; i < vocab; i++) if (logits[off + i] > max) max = logits[off + i]
  let sum = 0
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max)
  const lse = max + Math.log(sum)
  for (let i = 0; i < vocab; i++) out[i] = logits[off + i] - lse
  return out
}
