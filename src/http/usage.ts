import { randomUUID } from "node:crypto"
import type { PromptDelta } from "./generate.ts"

/** OpenAI's `usage` object (with vLLM's and OpenAI's `prompt_tokens_details.cached_tokens`). */
export interface Usage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly prompt_tokens_details: { readonly cached_tokens: number }
}

/**
 * Token accounting of one API request as its deltas go by: each prompt counts once (whatever n is),
 * each choice adds its generated tokens, and cached_tokens are the prompt tokens served from the prefix
 * cache.
 */
export class UsageTracker {
  private readonly prompts = new Map<number, { tokens: number; cached: number }>()
  private readonly completions = new Map<string, number>()

  add(d: PromptDelta): void {
    this.prompts.set(d.promptIndex, { tokens: d.promptTokens, cached: d.cachedTokens })
    this.completions.set(`${d.promptIndex}:${d.index}`, d.completionTokens)
  }

  get usage(): Usage {
    let prompt = 0, cached = 0, completion = 0
    for (const p of this.prompts.values()) {
      prompt += p.tokens
      cached += p.cached
    }
    for (const c of this.completions.values()) completion += c
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } }
  }
}

/** Response ids in OpenAI's style: `chatcmpl-…`, `cmpl-…`. */
export const responseId = (prefix: "chatcmpl" | "cmpl") => `${prefix}-${randomUUID().replaceAll("-", "")}`

/** `created`: Unix seconds. */
export const unixSeconds = () => Math.floor(Date.now() / 1000)
