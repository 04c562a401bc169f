import { Effect, Stream } from "effect"
import { HttpRouter } from "effect/http"
import { Engine, type GenerateRequest } from "../actors/engine.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import { decodeJson } from "./body.ts"
import { appendLegacyLogprobs, concatLegacyLogprobs, emptyLegacyLogprobs, tokenRenderer, vllmPromptLogprobs, type LegacyLogprobs, type TokenRenderer } from "./logprobs.ts"
import { checkModel, checkPromptLength, checkSequenceCount, completionPrompts, type Prompt } from "./prompt.ts"
import { toSamplingParams } from "./sampling.ts"
import { CompletionRequest } from "./schemas.ts"
import { chatEndpoint } from "./chat.ts"
import { handleRoutedRequest, type RoutedEndpoint } from "./routed-request.ts"
import { unhonouredField } from "./request-fields.ts"
import { compileGuided, guidedRequestOf } from "./structured-output.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { orErrorResponse } from "./errors.ts"
import { kvTransferOf, kvTransferResponse } from "./kv-transfer-fields.ts"
import type { PromptDelta } from "../actors/engine-client.ts"
import { responseId, unixSeconds } from "../api/response-ids.ts"
import type { UsageMeter } from "../api/usage-meter.ts"

/** A validated legacy completion request: one engine request per prompt, n choices each. */
export interface PreparedCompletion {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly n: number
  readonly prompts: ReadonlyArray<Prompt>
  readonly generate: ReadonlyArray<GenerateRequest>
  readonly echo: boolean
  readonly wantsLogprobs: boolean
  readonly render: TokenRenderer
  readonly includeUsage: boolean
}

export const prepareCompletion = Effect.fnUntraced(function*(request: CompletionRequest) {
  const engine = yield* Engine
  const info = engine.info
  yield* checkModel(request.model, info)
  const prompts = yield* completionPrompts(request.prompt, info)
  const echo = request.echo ?? false
  const logprobs = request.logprobs ?? null
  const guidedRequest = yield* guidedRequestOf(request, null)
  const guided = guidedRequest === null ? null : yield* compileGuided(guidedRequest, info)
  const kvTransfer = yield* kvTransferOf(request, prompts.length)
  const generate: Array<GenerateRequest> = []
  for (let i = 0; i < prompts.length; i++) {
    const param = prompts.length === 1 ? "prompt" : `prompt[${i}]`
    yield* checkPromptLength(prompts[i], info, param)
    const params = yield* toSamplingParams({
      fields: request,
      maxTokens: request.max_tokens ?? null,
      maxTokensParam: "max_tokens",
      logprobs,
      // Echoing with logprobs reports the prompt's tokens too, as OpenAI did.
      promptLogprobs: request.prompt_logprobs ?? (echo && logprobs !== null ? logprobs : null),
      promptTokens: prompts[i].tokenIds.length,
      guided
    }, info)
    generate.push({ promptTokenIds: prompts[i].tokenIds, params, priority: request.priority ?? undefined, cacheSalt: request.cache_salt ?? null, speculate: request.speculative_decoding ?? undefined, kvTransfer })
  }
  yield* checkSequenceCount(generate.length * generate[0].params.n, info, generate.length > 1 ? "prompt" : "n")
  return {
    id: responseId("cmpl"),
    created: unixSeconds(),
    model: info.modelName,
    n: generate[0].params.n,
    prompts,
    generate,
    echo,
    wantsLogprobs: logprobs !== null,
    render: tokenRenderer(info.tokenizer, request.return_tokens_as_token_ids ?? false),
    includeUsage: request.stream_options?.include_usage ?? false
  } satisfies PreparedCompletion
})

/** Per-choice state shared by the streaming and the non-streaming response. */
interface ChoiceState {
  started: boolean
  /** Where the next token starts in the choice's text (the text starts with the prompt when echoing). */
  offset: number
  finishReason: string | null
  stopReason: string | number | null
  promptLogprobs: unknown
}

/**
 * Folds one delta into its choice; returns the text and logprobs this delta adds (the echoed prompt
 * and its logprobs come with the choice's first delta).
 */
const applyDelta = (c: PreparedCompletion, state: ChoiceState, d: PromptDelta): { text: string; logprobs: LegacyLogprobs | null } => {
  let text = ""
  const logprobs = c.wantsLogprobs ? emptyLegacyLogprobs() : null
  if (!state.started) {
    state.started = true
    const prompt = c.prompts[d.promptIndex]
    if (c.echo) {
      text += prompt.text ?? ""
      if (logprobs !== null) appendLegacyLogprobs(logprobs, c.render, d.promptLogprobs ?? [], prompt.tokenIds, state.offset)
      state.offset = text.length
    }
    if (d.promptLogprobs !== null) state.promptLogprobs = vllmPromptLogprobs(c.render, d.promptLogprobs)
  }
  text += d.text
  if (logprobs !== null && d.logprobs !== null) {
    appendLegacyLogprobs(logprobs, c.render, d.logprobs, d.tokenIds, state.offset)
  }
  state.offset += d.text.length
  if (d.finishReason !== null) {
    state.finishReason = d.finishReason
    state.stopReason = d.stopReason
  }
  return { text, logprobs }
}

const newChoices = (c: PreparedCompletion): Array<ChoiceState> =>
  Array.from({ length: c.prompts.length * c.n }, () => ({
    started: false,
    offset: 0,
    finishReason: null,
    stopReason: null,
    promptLogprobs: null
  }))

/** Choices are numbered prompt-major: prompt p's choice i has index p * n + i. */
const choiceIndex = (c: PreparedCompletion, d: PromptDelta) => d.promptIndex * c.n + d.index

export const completion = <E>(c: PreparedCompletion, deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter) => completionOf(c, deltas, meter) as Effect.Effect<Completion, E>

/** The response object of a legacy completion. */
type Completion = Effect.Success<ReturnType<typeof completionOf>>

// Not generic itself: a generator made once (see bench/scavenge-survivors.ts); `completion` puts the error type back.
const completionOf = Effect.fnUntraced(function*(c: PreparedCompletion, deltas: Stream.Stream<PromptDelta, unknown>, meter: UsageMeter) {
  const choices = newChoices(c)
  const texts = choices.map(() => "")
  const logprobs = choices.map(() => emptyLegacyLogprobs())
  let kvTransferId: string | undefined
  yield* Stream.runForEach(deltas, (d) =>
    Effect.sync(() => {
      kvTransferId ??= d.kvTransferId
      const index = choiceIndex(c, d)
      const added = applyDelta(c, choices[index], d)
      texts[index] += added.text
      if (added.logprobs !== null) concatLegacyLogprobs(logprobs[index], added.logprobs)
    })
  )
  return {
    id: c.id,
    object: "text_completion",
    created: c.created,
    model: c.model,
    choices: choices.map((s, index) => ({
      index,
      text: texts[index],
      logprobs: c.wantsLogprobs ? logprobs[index] : null,
      finish_reason: s.finishReason,
      stop_reason: s.stopReason,
      ...(s.promptLogprobs !== null && { prompt_logprobs: s.promptLogprobs })
    })),
    usage: meter.usage,
    ...kvTransferResponse(kvTransferId)
  }
})

/** Streaming chunks: text deltas per choice (interleaved), a chunk with the finish_reason, usage last. */
export const completionChunks = <E>(c: PreparedCompletion, deltas: Stream.Stream<PromptDelta, E>, meter: UsageMeter): Stream.Stream<unknown, E> => {
  const chunk = (choices: ReadonlyArray<unknown>) => ({
    id: c.id,
    object: "text_completion",
    created: c.created,
    model: c.model,
    choices,
    ...(c.includeUsage && { usage: null })
  })
  return deltas.pipe(
    Stream.mapAccum(() => ({ choices: newChoices(c) }), (acc, d) => {
      const index = choiceIndex(c, d)
      const added = applyDelta(c, acc.choices[index], d)
      const out: Array<unknown> = []
      if (added.text !== "" || (added.logprobs !== null && added.logprobs.tokens.length > 0)) {
        out.push(chunk([{ index, text: added.text, logprobs: added.logprobs, finish_reason: null }]))
      }
      if (d.finishReason !== null) {
        out.push(chunk([{ index, text: "", logprobs: null, finish_reason: d.finishReason, stop_reason: d.stopReason }]))
      }
      return [acc, out] as const
    }, {
      // The meter has counted every delta by now (it is fed before they reach this stream).
      onHalt: () => (c.includeUsage ? [{ id: c.id, object: "text_completion", created: c.created, model: c.model, choices: [], usage: meter.usage }] : [])
    })
  )
}

const COMPLETION_FIELDS: ReadonlySet<string> = new Set(Object.keys(CompletionRequest.fields))

/** The raw body's fields, before decoding (which would drop unknown ones). */
const checkCompletionFields = (json: unknown): Effect.Effect<unknown, ApiError> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return Effect.succeed(json)
  const error = unhonouredField(json as Readonly<Record<string, unknown>>, COMPLETION_FIELDS)
  return error === undefined ? Effect.succeed(json) : Effect.fail(error)
}

/** Legacy completions as the router serves them: the served model's side validates and tokenizes. */
export const completionsEndpoint: RoutedEndpoint = {
  kind: "completions",
  prepareChat: chatEndpoint.prepareChat,
  prepareLocal: (json) =>
    Effect.map(Effect.flatMap(Effect.flatMap(checkCompletionFields(json), (body) => decodeJson(CompletionRequest, body)), (request) => prepareCompletion({ ...request, model: null })), (prepared): LocalRequest => ({
      generates: prepared.generate,
      response: (deltas, meter) => completion(prepared, deltas, meter),
      chunks: (deltas, meter) => completionChunks(prepared, deltas, meter)
    })),
  messages: () => undefined,
  // OpenAI's prompt: a string, or a non-empty array of strings, of token ids, or of token-id arrays.
  shapeError: (body) => {
    const prompt = body.prompt
    const tokens = (x: unknown) => Array.isArray(x) && x.length > 0 && x.every(Number.isInteger)
    const ok = typeof prompt === "string" ||
      (Array.isArray(prompt) && prompt.length > 0 && (prompt.every((p) => typeof p === "string") || tokens(prompt) || prompt.every(tokens)))
    return ok ? undefined : invalidRequest("`prompt` must be a string, or a non-empty array of strings, of token ids or of token-id arrays.", "prompt")
  }
}

/** POST /v1/completions, through the gateway and the router (src/router). */
export const completionsRoute = HttpRouter.add("POST", "/v1/completions", orErrorResponse(handleRoutedRequest(completionsEndpoint)))
