/**
 * OpenTelemetry GenAI semantic conventions (v1.41, "Development"): the attributes of a model request's
 * span, from the OpenAI-style request parameters. Only what was given is set: an absent parameter is not
 * a default.
 */

/** The request fields the conventions name; an OpenAI chat or completions body fits as it is. */
export interface GenAiRequestParams {
  readonly model?: string | null | undefined
  readonly max_tokens?: number | null | undefined
  readonly max_completion_tokens?: number | null | undefined
  readonly temperature?: number | null | undefined
  readonly top_p?: number | null | undefined
  readonly top_k?: number | null | undefined
  readonly frequency_penalty?: number | null | undefined
  readonly presence_penalty?: number | null | undefined
  readonly stream?: boolean | null | undefined
  readonly seed?: number | null | undefined
  readonly n?: number | null | undefined
  readonly stop?: string | ReadonlyArray<string> | null | undefined
}

export type GenAiOperation = "chat" | "text_completion" | "embeddings"

/** `{gen_ai.operation.name} {gen_ai.request.model}` */
export const genAiSpanName = (operation: GenAiOperation, model: string) => `${operation} ${model}`

export const requestAttributes = (operation: GenAiOperation, modelGroup: string, p: GenAiRequestParams): Record<string, unknown> => {
  const a: Record<string, unknown> = {
    "gen_ai.operation.name": operation,
    "gen_ai.request.model": p.model ?? modelGroup
  }
  const set = (name: string, value: unknown) => {
    if (value !== null && value !== undefined) a[name] = value
  }
  set("gen_ai.request.max_tokens", p.max_completion_tokens ?? p.max_tokens)
  set("gen_ai.request.temperature", p.temperature)
  set("gen_ai.request.top_p", p.top_p)
  set("gen_ai.request.top_k", p.top_k)
  set("gen_ai.request.frequency_penalty", p.frequency_penalty)
  set("gen_ai.request.presence_penalty", p.presence_penalty)
  set("gen_ai.request.stream", p.stream ?? false)
  set("gen_ai.request.seed", p.seed)
  // Conditionally required only when not 1.
  if (p.n !== null && p.n !== undefined && p.n !== 1) a["gen_ai.request.choice.count"] = p.n
  set("gen_ai.request.stop_sequences", typeof p.stop === "string" ? [p.stop] : p.stop)
  return a
}

/** The outcome's attributes (response, usage, provider, error.type) for the span's end. */
export interface GenAiOutcome {
  readonly provider: string
  readonly responseId?: string | undefined
  readonly responseModel?: string | undefined
  readonly finishReasons?: ReadonlyArray<string> | undefined
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly errorType?: string | undefined
}

export const responseAttributes = (o: GenAiOutcome): Record<string, unknown> => {
  const a: Record<string, unknown> = {
    "gen_ai.provider.name": o.provider,
    // input_tokens includes the cached ones (the conventions' definition, and OpenAI's prompt_tokens).
    "gen_ai.usage.input_tokens": o.inputTokens,
    "gen_ai.usage.output_tokens": o.outputTokens,
    "gen_ai.usage.cache_read.input_tokens": o.cachedInputTokens
  }
  if (o.responseId !== undefined) a["gen_ai.response.id"] = o.responseId
  if (o.responseModel !== undefined) a["gen_ai.response.model"] = o.responseModel
  if (o.finishReasons !== undefined && o.finishReasons.length > 0) a["gen_ai.response.finish_reasons"] = o.finishReasons
  if (o.errorType !== undefined) a["error.type"] = o.errorType
  return a
}
