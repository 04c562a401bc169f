import type { SamplingParams } from "./sampling-params.ts"

export type FinishReason = "stop" | "length"

export interface StopDecision {
  /** Text the sequence may stream now (possibly ""). */
  readonly emit: string
  /** Why the sequence ended with this token; null while it goes on. */
  readonly finishReason: FinishReason | null
  /** The stop string or stop_token_id that ended it; null for eos, length, or not finished. */
  readonly stopReason: string | number | null
}

/**
 * Decides, token by token, whether a sequence is finished and how much of its text may be streamed.
 *
 * Stop strings are matched on the detokenized text, so a match may span tokens. Until the sequence
 * ends, the longest tail of the text that could still grow into a stop string is held back: the
 * client never sees a partial stop string that would later be cut off. The held text is released as
 * soon as it can no longer match. A stop (eos, stop_token_ids, stop string) is only honoured once
 * more than min_tokens tokens exist, as the sampler masks eos and stop ids until then.
 */
export class StopChecker {
  private readonly eosTokenIds: ReadonlySet<number>
  private readonly stopTokenIds: ReadonlySet<number>
  private readonly stop: ReadonlyArray<string>
  private readonly ignoreEos: boolean
  private readonly includeStop: boolean
  private readonly minTokens: number
  private readonly maxTokens: number
  private readonly maxModelLen: number
  private readonly promptLen: number
  /** Emitted text a stop string could still start in: its last (longest stop - 1) characters. */
  private readonly contextLen: number
  /** Text received but not yet emitted. */
  private pending = ""
  /** The last `contextLen` emitted characters. */
  private emittedTail = ""
  private finished = false

  constructor(params: SamplingParams, eosTokenIds: ReadonlyArray<number>, maxModelLen: number, promptLen: number) {
    this.eosTokenIds = new Set(eosTokenIds)
    this.stopTokenIds = new Set(params.stopTokenIds)
    this.stop = params.stop.filter((s) => s.length > 0)
    this.ignoreEos = params.ignoreEos
    this.includeStop = params.includeStopStrInOutput
    this.minTokens = params.minTokens
    this.maxTokens = params.maxTokens
    this.maxModelLen = maxModelLen
    this.promptLen = promptLen
    this.contextLen = Math.max(0, Math.max(0, ...this.stop.map((s) => s.length)) - 1)
  }

  /**
   * Takes the token just sampled, the text the detokenizer produced for it, and the output length
   * including it. Call flush() instead of this once the sequence is finished.
   */
  onToken(tokenId: number, newText: string, outputLen: number): StopDecision {
    if (this.finished) throw new Error("onToken after the sequence finished")
    const stopsAllowed = outputLen > this.minTokens
    // Token stops first (as vLLM v0): a stop token that is also the last allowed one reports "stop".
    if (stopsAllowed && !this.ignoreEos && this.eosTokenIds.has(tokenId)) return this.finish("stop", null, newText)
    if (stopsAllowed && this.stopTokenIds.has(tokenId)) return this.finish("stop", tokenId, newText)

    this.pending += newText
    if (stopsAllowed && newText.length > 0 && this.stop.length > 0) {
      const matched = this.matchStopString(newText.length)
      if (matched !== null) return matched
    }
    if (outputLen >= this.maxTokens || this.promptLen + outputLen >= this.maxModelLen) return this.finish("length", null, "")
    return { emit: this.release(), finishReason: null, stopReason: null }
  }

  /**
   * Ends the sequence after a token whose decision (`emitted`) let it go on, because nothing more can
   * follow (its guided grammar is complete): the held-back text goes out too.
   */
  finishComplete(emitted: string): StopDecision {
    this.finished = true
    return { emit: emitted + this.flush(), finishReason: "stop", stopReason: null }
  }

  /** Releases held-back text when the sequence ends some other way (abort, end of stream). */
  flush(): string {
    const out = this.pending
    this.pending = ""
    return out
  }

  /**
   * A stop string ending inside the newest text (earlier ends were checked on earlier tokens).
   * When several match, the one starting first wins, so no stop string survives in the output.
   */
  private matchStopString(newChars: number): StopDecision | null {
    const text = this.emittedTail + this.pending
    const newFrom = text.length - newChars
    let at = -1, which = ""
    for (const s of this.stop) {
      const i = text.indexOf(s, Math.max(0, newFrom - s.length + 1))
      if (i !== -1 && (at === -1 || i < at)) {
        at = i
        which = s
      }
    }
    if (at === -1) return null
    // Cut in pending text; max(0) covers a match starting in text already streamed before min_tokens.
    const cut = Math.max(0, (this.includeStop ? at + which.length : at) - this.emittedTail.length)
    const emit = this.pending.slice(0, cut)
    this.pending = ""
    this.finished = true
    return { emit, finishReason: "stop", stopReason: which }
  }

  /** Finishes on a token: everything held back goes out, the stop token's own text only if asked for. */
  private finish(reason: FinishReason, stopReason: number | null, tokenText: string): StopDecision {
    const emit = this.pending + (reason === "stop" && this.includeStop ? tokenText : "")
    this.pending = ""
    this.finished = true
    return { emit, finishReason: reason, stopReason }
  }

  /** Emits the pending text except its longest tail that is a proper prefix of a stop string. */
  private release(): string {
    let hold = 0
    // With include_stop_str_in_output a matched stop string is streamed anyway; nothing to hide.
    if (!this.includeStop) {
      for (let k = Math.min(this.pending.length, this.contextLen); k > 0 && hold === 0; k--) {
        const tail = this.pending.slice(this.pending.length - k)
        if (this.stop.some((s) => s.startsWith(tail))) hold = k
      }
    }
    const emit = this.pending.slice(0, this.pending.length - hold)
    this.pending = this.pending.slice(this.pending.length - hold)
    if (this.contextLen > 0 && emit.length > 0) {
      const tail = this.emittedTail + emit
      this.emittedTail = tail.length > this.contextLen ? tail.slice(tail.length - this.contextLen) : tail
    }
    return emit
  }
}
