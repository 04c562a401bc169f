/** The largest count a ledger column (Postgres integer) holds. */
const MAX_TOKENS = 2_147_483_647

const tokenCount = (x: unknown, otherwise: number): number => (typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= MAX_TOKENS ? x : otherwise)

/**
 * The tokens one routed request used, filled in by whichever provider served it: the prompt once, the
 * completion as it grows (streaming). The handler reconciles the gateway permit with `total` when the
 * response ends, and the router charges the deployment's tpm with it.
 */
export class UsageMeter {
  promptTokens = 0
  completionTokens = 0
  cachedTokens = 0
  /** Why each sequence ended, as providers learn it (for the request's span and the ledger). */
  readonly finishReasons: Array<string> = []
  /** Whether a provider reported anything (else the admission estimate stands). */
  reported = false

  readonly estimatedPromptTokens: number

  constructor(estimatedPromptTokens: number) {
    this.estimatedPromptTokens = estimatedPromptTokens
  }

  setPrompt(tokens: number, cached = 0): void {
    this.promptTokens = tokens
    this.cachedTokens = cached
    this.reported = true
  }

  addCompletion(tokens: number): void {
    this.completionTokens += tokens
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

  get total(): number {
    return this.reported ? this.promptTokens + this.completionTokens : this.estimatedPromptTokens
  }
}
