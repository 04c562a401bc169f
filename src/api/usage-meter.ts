/** OpenAI's `usage` object (with vLLM's and OpenAI's `prompt_tokens_details.cached_tokens`). */
export interface Usage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly prompt_tokens_details: { readonly cached_tokens: number }
}

/**
 * What the served model reports per output delta, as far as usage goes: the prompt it belongs to (legacy
 * completions take several), the choice, the prompt's size and prefix-cache hits, and the choice's
 * tokens so far.
 */
export interface GeneratedDelta {
  readonly promptIndex: number
  readonly index: number
  readonly promptTokens: number
  readonly cachedTokens: number
  readonly completionTokens: number
  readonly finishReason: string | null
}

/** The largest count a ledger column (Postgres integer) holds. */
const MAX_TOKENS = 2_147_483_647

const tokenCount = (x: unknown, otherwise: number): number => (typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= MAX_TOKENS ? x : otherwise)

/**
 * The one count of the tokens a request used, filled in by whichever provider served it: from the
 * served model's deltas (each prompt counted once whatever n is, each choice its own tokens, cached =
 * the prompt tokens served from the prefix cache), or from an upstream's `usage`. Everything that
 * reports usage reads it: the response's `usage`, the gateway's token limits (`total`), the router's
 * tpm, the ledger row, the spans and the metrics.
 */
export class UsageMeter {
  promptTokens = 0
  completionTokens = 0
  cachedTokens = 0
  /** Why each sequence ended, as providers learn it (for the request's span and the ledger). */
  readonly finishReasons: Array<string> = []
  /** Whether a provider reported anything (else the admission estimate stands). */
  reported = false
  /** When the first generated token arrived (epoch ms), when the provider knows it (the served model). */
  firstTokenAt: number | undefined
  /** The model that answered, as its response names it (a stream's chunks, the served model's name). */
  responseModel: string | undefined

  readonly estimatedPromptTokens: number
  /** Per prompt: its tokens and cached tokens; per prompt and choice: tokens generated so far (served model). */
  private prompts: Map<number, { tokens: number; cached: number }> | undefined
  private completions: Map<number, number> | undefined

  constructor(estimatedPromptTokens: number) {
    this.estimatedPromptTokens = estimatedPromptTokens
  }

  /** The served model's prompt tokens, known before generation starts (a request refused by the engine still used them). */
  setPrompt(tokens: number): void {
    this.promptTokens = tokens
    this.reported = true
  }

  /** A served-model delta, arrived at `now` (epoch ms): the latest counts of its prompt and choice replace the earlier ones. */
  addGenerated(d: GeneratedDelta, now: number): void {
    if (this.firstTokenAt === undefined && d.completionTokens > 0) this.firstTokenAt = now
    if (this.prompts === undefined) {
      // The deltas' counts replace what setPrompt said (the same total, now with the cached tokens).
      this.promptTokens = 0
      this.cachedTokens = 0
    }
    const prompts = (this.prompts ??= new Map())
    const completions = (this.completions ??= new Map())
    const before = prompts.get(d.promptIndex)
    if (before === undefined) {
      prompts.set(d.promptIndex, { tokens: d.promptTokens, cached: d.cachedTokens })
      this.promptTokens += d.promptTokens
      this.cachedTokens += d.cachedTokens
    } else if (before.tokens !== d.promptTokens || before.cached !== d.cachedTokens) {
      this.promptTokens += d.promptTokens - before.tokens
      this.cachedTokens += d.cachedTokens - before.cached
      before.tokens = d.promptTokens
      before.cached = d.cachedTokens
    }
    // Choices are numbered within their prompt; 2^20 choices per prompt is far beyond any `n`.
    const key = d.promptIndex * 1_048_576 + d.index
    this.completionTokens += d.completionTokens - (completions.get(key) ?? 0)
    completions.set(key, d.completionTokens)
    if (d.finishReason !== null) this.finishReasons.push(d.finishReason)
    this.reported = true
  }

  addFinishReason(reason: string | null | undefined): void {
    if (typeof reason === "string") this.finishReasons.push(reason)
  }

  /**
   * From an OpenAI `usage` object (the last word: replaces what was counted so far). The upstream's
   * numbers are taken only when they are token counts (whole, >= 0, within a Postgres integer): a
   * string, a fraction or 1e12 would otherwise reach the rate limits and the ledger, where one such row
   * fails its whole batch.
   */
  setUsage(usage: { readonly prompt_tokens?: unknown; readonly completion_tokens?: unknown; readonly prompt_tokens_details?: { readonly cached_tokens?: unknown } | null }): void {
    this.promptTokens = tokenCount(usage.prompt_tokens, this.promptTokens)
    this.completionTokens = tokenCount(usage.completion_tokens, this.completionTokens)
    this.cachedTokens = tokenCount(usage.prompt_tokens_details?.cached_tokens, this.cachedTokens)
    this.reported = true
  }

  /** The counts as OpenAI's `usage` object. */
  get usage(): Usage {
    return {
      prompt_tokens: this.promptTokens,
      completion_tokens: this.completionTokens,
      total_tokens: this.promptTokens + this.completionTokens,
      prompt_tokens_details: { cached_tokens: this.cachedTokens }
    }
  }

  get total(): number {
    return this.reported ? this.promptTokens + this.completionTokens : this.estimatedPromptTokens
  }
}
