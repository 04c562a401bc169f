import { Effect, Stream } from "effect"
import type { DeploymentConfig } from "../config.ts"
import { AnthropicStreamError, AnthropicStreamTranslator, toAnthropicRequest, toOpenAiResponse } from "./anthropic-translate.ts"
import { deploymentHeaders } from "./deployment-headers.ts"
import { SseParser } from "./sse-parser.ts"
import { upstreamError } from "./upstream-error.ts"
import { postJson, readText, textChunks, type UpstreamPool, type UpstreamResponse } from "./upstream-http.ts"
import { ProviderError, type Provider, type ProviderCall } from "./provider.ts"

const ANTHROPIC_VERSION = "2023-06-01"

const headersOf = deploymentHeaders((d) => ({
  "anthropic-version": ANTHROPIC_VERSION,
  ...(d.apiKey !== undefined && { "x-api-key": d.apiKey })
}))

const checkStatus = (d: DeploymentConfig, response: UpstreamResponse) =>
  response.status >= 200 && response.status < 300
    ? Effect.succeed(response)
    : Effect.flatMap(readText(response), (text) => Effect.fail(upstreamError(d.id, response.status, response.headers, text)))

const post = Effect.fnUntraced(function*(pool: UpstreamPool, call: ProviderCall, stream: boolean) {
  const d = call.deployment
  const body = JSON.stringify(toAnthropicRequest(call.body, d.model, stream))
  return yield* Effect.flatMap(postJson(pool, `${d.apiBase}/v1/messages`, headersOf(d), body), (r) => checkStatus(d, r))
})

/**
 * An error event in an Anthropic stream: overloaded is the deployment's load (retried elsewhere), any
 * other is what Anthropic said about the request.
 */
const anthropicStreamError = (deployment: string, e: AnthropicStreamError) =>
  e.type === "overloaded_error"
    ? new ProviderError({ kind: "server", message: "it is overloaded.", detail: `Upstream ${deployment}: ${e.message}`, deployment })
    : new ProviderError({ kind: "bad_request", message: e.message, code: e.type, deployment, upstreamStatus: 400 })

/** Anthropic's Messages API behind the OpenAI chat interface, both ways (see anthropic-translate.ts). */
export const anthropicProvider = (pool: UpstreamPool): Provider => ({
  name: "anthropic",
  serves: (kind) => kind === "chat",
  // Generators made once per provider, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const text = yield* readText(yield* post(pool, call, false))
    let json: Record<string, unknown>
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(new ProviderError({ kind: "server", message: "it answered with a body that is not JSON.", deployment: call.deployment.id }))
    }
    const response = toOpenAiResponse(json, String(call.body.model ?? call.deployment.group))
    call.meter.setUsage(response.usage)
    return { json: response, text: undefined }
  }, Effect.scoped),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const response = yield* post(pool, call, true)
    const options = (call.body.stream_options ?? {}) as Record<string, unknown>
    const translator = new AnthropicStreamTranslator(String(call.body.model ?? call.deployment.group), options.include_usage === true)
    const parser = new SseParser()
    return textChunks(response).pipe(
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
              : new ProviderError({ kind: "server", message: "it sent an event that is not JSON.", deployment: call.deployment.id })
        })
      ),
      Stream.flattenIterable
    )
  })
})
