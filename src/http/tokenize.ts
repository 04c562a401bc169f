import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Engine } from "../actors/engine.ts"
import { readJsonBody } from "./body.ts"
import { chatPrompt, checkModel, checkTokenIds, requireTokenizer } from "./prompt.ts"
import { DetokenizeRequest, TokenizeRequest } from "./schemas.ts"
import { invalidRequest } from "../api/api-error.ts"
import { orErrorResponse } from "./errors.ts"

/** POST /tokenize (vLLM's shape): a prompt or chat messages → {count, max_model_len, tokens}. */
const tokenizeRoute = HttpRouter.add(
  "POST",
  "/tokenize",
  orErrorResponse(Effect.gen(function*() {
    const request = yield* readJsonBody(TokenizeRequest)
    const { info } = yield* Engine
    yield* checkModel(request.model, info)
    const tokenizer = yield* requireTokenizer(info, "tokenizing")
    let tokens: ReadonlyArray<number>
    if (request.messages != null && request.prompt == null) {
      const prompt = yield* chatPrompt(request.messages, request.add_generation_prompt ?? true, info)
      // As vLLM: the template wrote the special tokens, so none are added unless asked for.
      tokens = request.add_special_tokens === true ? tokenizer.encode(prompt.text ?? "", true) : prompt.tokenIds
    } else if (request.prompt != null && request.messages == null) {
      tokens = tokenizer.encode(request.prompt, request.add_special_tokens ?? true)
    } else {
      return yield* invalidRequest("Give exactly one of 'prompt' and 'messages'.", request.prompt == null ? "prompt" : "messages")
    }
    return HttpServerResponse.jsonUnsafe({
      count: tokens.length,
      max_model_len: info.maxModelLen,
      tokens,
      ...(request.return_token_strs === true && { token_strs: tokens.map((t) => tokenizer.idToToken(t) ?? null) })
    })
  }))
)

/** POST /detokenize (vLLM's shape): {tokens} → {prompt}. */
const detokenizeRoute = HttpRouter.add(
  "POST",
  "/detokenize",
  orErrorResponse(Effect.gen(function*() {
    const request = yield* readJsonBody(DetokenizeRequest)
    const { info } = yield* Engine
    yield* checkModel(request.model, info)
    const tokenizer = yield* requireTokenizer(info, "detokenizing")
    yield* checkTokenIds(request.tokens, info, "tokens")
    // The tokenizer refuses an empty list; its text is the empty string.
    return HttpServerResponse.jsonUnsafe({ prompt: request.tokens.length === 0 ? "" : tokenizer.decode(request.tokens, false) })
  }))
)

export const tokenizeRoutes = Layer.mergeAll(tokenizeRoute, detokenizeRoute)
