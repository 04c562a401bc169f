import { Effect, Stream } from "effect"
import { Engine, type EngineInfo } from "../actors/engine.ts"
import type { PromptDelta } from "../actors/engine-client.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"
import { defaultSamplingParams } from "../engine/sampling-params.ts"
import type { LocalRequest } from "../router/providers/local-request.ts"
import { decodeJson } from "./body.ts"
import { checkModel, checkPromptLength, checkSequenceCount, checkTokenIds, requireTokenizer, type Prompt } from "./prompt.ts"
import { unhonouredField } from "./request-fields.ts"
import { EmbeddingRequest } from "./schemas.ts"

/**
 * /v1/embeddings on the served model: each input is tokenized (with the tokenizer's special tokens, as
 * vLLM embeds), checked against max_model_len, and becomes one engine request that is prefilled and
 * pooled (--pooling) without generating anything. The engine batches them with everything else.
 */

/** OpenAI's limit on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048

const EMBEDDING_FIELDS: ReadonlySet<string> = new Set(Object.keys(EmbeddingRequest.fields))

const isTokenIdList = (p: ReadonlyArray<unknown>): p is ReadonlyArray<number> => p.length > 0 && typeof p[0] === "number"

/** The inputs of a request as a list, each a text or token ids, with the param that names it in errors. */
export const embeddingInputs = (input: EmbeddingRequest["input"]): ReadonlyArray<{ readonly item: string | ReadonlyArray<number>; readonly param: string }> => {
  if (typeof input === "string" || isTokenIdList(input)) return [{ item: input, param: "input" }]
  return (input as ReadonlyArray<string | ReadonlyArray<number>>).map((item, i) => ({ item, param: `input[${i}]` }))
}

/**
 * What every path checks before anything is sent: at least one input, at most MAX_EMBEDDING_INPUTS,
 * none empty (OpenAI refuses them the same way).
 */
export const embeddingInputError = (input: EmbeddingRequest["input"]): ApiError | undefined => {
  const inputs = embeddingInputs(input)
  if (inputs.length === 0) return invalidRequest("'input' must not be an empty list.", "input")
  if (inputs.length > MAX_EMBEDDING_INPUTS) return invalidRequest(`'input' has ${inputs.length} items; at most ${MAX_EMBEDDING_INPUTS} are allowed.`, "input")
  const empty = inputs.find((i) => i.item.length === 0)
  return empty === undefined ? undefined : invalidRequest(`'${empty.param}' is empty; each input must have at least one character or token.`, empty.param)
}

const tokenized = Effect.fnUntraced(function*(inputs: ReturnType<typeof embeddingInputs>, info: EngineInfo) {
  const prompts: Array<Prompt> = []
  for (const { item, param } of inputs) {
    const prompt: Prompt = typeof item === "string"
      ? { tokenIds: (yield* requireTokenizer(info, "embedding text")).encode(item, true), text: item }
      : (yield* checkTokenIds(item, info, param), { tokenIds: item, text: null })
    yield* checkPromptLength(prompt, info, param)
    prompts.push(prompt)
  }
  return prompts
})

/** The served model's response: one float vector per input, in input order, with the exact prompt tokens. */
const collect = <E>(modelName: string, inputs: number, deltas: Stream.Stream<PromptDelta, E>) =>
  Effect.map(
    Stream.runFold(deltas, () => new Array<ReadonlyArray<number> | undefined>(inputs), (vectors, d) => {
      if (d.embedding !== undefined) vectors[d.promptIndex] = d.embedding
      return vectors
    }),
    (vectors) => ({
      object: "list",
      data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding: embedding ?? [] })),
      model: modelName
    })
  )

/** An embedding request for the served model: fields checked, validated, tokenized. */
export const prepareLocalEmbedding = (json: unknown): Effect.Effect<LocalRequest, ApiError, Engine> =>
  Effect.gen(function*() {
    const info = (yield* Engine).info
    const body = json as Readonly<Record<string, unknown>>
    const refused = unhonouredField(body, EMBEDDING_FIELDS)
    if (refused !== undefined) return yield* refused
    const request = yield* decodeJson(EmbeddingRequest, body)
    yield* checkModel(null, info)
    const inputError = embeddingInputError(request.input)
    if (inputError !== undefined) return yield* inputError
    if (request.dimensions != null && request.dimensions !== info.config.hiddenSize) {
      return yield* invalidRequest(
        `This model is not a Matryoshka model: its embeddings have ${info.config.hiddenSize} dimensions and cannot be shortened, so 'dimensions' must be ${info.config.hiddenSize} or absent.`,
        "dimensions",
        "unsupported_parameter"
      )
    }
    const inputs = embeddingInputs(request.input)
    yield* checkSequenceCount(inputs.length, info, "input")
    const prompts = yield* tokenized(inputs, info)
    const params = defaultSamplingParams({ maxTokens: 1 })
    const pooling = info.pooling ?? "last"
    return {
      generates: prompts.map((p) => ({ promptTokenIds: p.tokenIds, params, pooling })),
      response: (deltas) => collect(info.modelName, prompts.length, deltas),
      chunks: () => Stream.die("embeddings are not streamed")
    } satisfies LocalRequest
  })
