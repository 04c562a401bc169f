import { Effect, Stream } from "effect"
import { AnthropicRequestError, AnthropicStreamError, AnthropicStreamTranslator, answersThroughTool, toAnthropicRequest, toOpenAiResponse } from "./anthropic-translate.ts"
import { deploymentHeaders } from "./deployment-headers.ts"
import { SseParser } from "./sse-parser.ts"
import { failOnEnd } from "../../effect/stream-pull.ts"
import { postJson, readText, streamDeadlines, textChunks, type UpstreamPool } from "./upstream-http.ts"
import { badJson, checkStatus, checkStreamResponse, cutShort, malformedEvent, unexpectedBody } from "./upstream-response.ts"
import { ProviderError, timedOut, type Provider, type ProviderCall } from "./provider.ts"
import { nativeComplete, nativeCountTokens, nativeStream } from "./anthropic-native.ts"

const ANTHROPIC_VERSION = "2023-06-01"

export const anthropicHeaders = deploymentHeaders((d) => ({
  "anthropic-version": ANTHROPIC_VERSION,
  ...(d.apiKey !== undefined && { "x-api-key": d.apiKey })
}))

const post = Effect.fnUntraced(function*(pool: UpstreamPool, call: ProviderCall, stream: boolean) {
  const d = call.deployment
  // A field the translation cannot honour is the request's fault, answered before anything is sent.
  const body = yield* Effect.try({
    try: () => JSON.stringify(toAnthropicRequest(call.body, d.model, stream)),
    catch: (e) => {
      if (!(e instanceof AnthropicRequestError)) throw e
      return new ProviderError({ kind: "bad_request", message: e.message, param: e.param, deployment: d.id })
    }
  })
  return yield* Effect.flatMap(postJson(pool, `${d.apiBase}/v1/messages`, anthropicHeaders(d), body), (r) => (stream ? checkStreamResponse(d, r) : checkStatus(d, r)))
})

/**
 * An error event in an Anthropic stream: overloaded is the deployment's load (retried elsewhere), any
 * other is what Anthropic said about the request.
 */
const anthropicStreamError = (deployment: string, e: AnthropicStreamError) =>
  e.type === "overloaded_error"
    ? new ProviderError({ kind: "server", message: "it is overloaded.", detail: `Upstream ${deployment}: ${e.message}`, deployment })
    : new ProviderError({ kind: "bad_request", message: e.message, code: e.type, deployment, upstreamStatus: 400 })

/**
 * Anthropic's Messages API behind the OpenAI chat interface, both ways (see anthropic-translate.ts), and
 * passed through as it is for /v1/messages (kind "messages", anthropic-native.ts).
 */
export const anthropicProvider = (pool: UpstreamPool): Provider => {
  const headers = (call: ProviderCall) => anthropicHeaders(call.deployment)
  const streamError = (deployment: string, type: string, message: string) => anthropicStreamError(deployment, new AnthropicStreamError(type, message))
  const native = { complete: nativeComplete(pool, headers), stream: nativeStream(pool, headers, streamError) }
  const translated = translatedProvider(pool)
  return {
    name: "anthropic",
    serves: (kind) => kind === "chat" || kind === "messages",
    complete: (call) => (call.kind === "messages" ? native.complete(call) : translated.complete(call)),
    stream: (call) => (call.kind === "messages" ? native.stream(call) : translated.stream(call)),
    countTokens: nativeCountTokens(pool, headers)
  }
}

const translatedProvider = (pool: UpstreamPool): Pick<Provider, "complete" | "stream"> => ({
  // Generators made once per provider, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const text = yield* readText(yield* post(pool, call, false))
    let json: Record<string, unknown> | null
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(badJson(call.deployment))
    }
    if (typeof json !== "object" || json === null || !Array.isArray(json.content)) return yield* Effect.fail(unexpectedBody(call.deployment, "a message (no content)", text))
    const response = toOpenAiResponse(json, String(call.body.model ?? call.deployment.group), answersThroughTool(call.body))
    call.meter.setUsage(response.usage)
    return { json: response, text: undefined }
  }, Effect.scoped),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const response = yield* post(pool, call, true)
    const options = (call.body.stream_options ?? {}) as Record<string, unknown>
    const translator = new AnthropicStreamTranslator(String(call.body.model ?? call.deployment.group), options.include_usage === true, answersThroughTool(call.body))
    call.meter.responseModel = translator.model
    const parser = new SseParser()
    const d = call.deployment
    return textChunks(response, streamDeadlines(d, (what, ms) => timedOut(d, what, ms))).pipe(
      Stream.mapEffect((text) =>
        Effect.try({
          try: () => {
            const out: Array<string> = []
            for (const data of parser.push(text)) {
              for (const chunk of translator.push(JSON.parse(data))) out.push(JSON.stringify(chunk))
            }
            call.meter.setUsage(translator.openAiUsage)
            return out
          },
          catch: (e) =>
            e instanceof AnthropicStreamError
              ? anthropicStreamError(call.deployment.id, e)
              : malformedEvent(call.deployment, String(e))
        })
      ),
      Stream.flattenIterable,
      failOnEnd(() => (translator.stopped ? undefined : cutShort(d, "message_stop")))
    )
  })
})
