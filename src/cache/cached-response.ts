import type { Usage } from "../api/usage-meter.ts"

/** One stored answer: the whole OpenAI response, and what the ledger and the metrics need for a hit. */
export interface CachedResponse {
  readonly kind: "chat" | "completions"
  /** The OpenAI response object (chat.completion or text_completion), as the client first got it. */
  readonly response: unknown
  readonly usage: Usage
  /** What the answer cost when it was made (USD): a hit saves it. */
  readonly cost: number
  /** Who made it, for the hit's ledger row. */
  readonly deployment: string
  readonly provider: string
  /** When it was stored (epoch ms): `s-maxage` compares against it. */
  readonly storedAt: number
}
