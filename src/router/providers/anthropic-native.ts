import { Effect, Stream } from "effect"
import { failOnEnd } from "../../effect/stream-pull.ts"
import type { UsageMeter } from "../../api/usage-meter.ts"
import { toOpenAiUsage } from "./anthropic-translate.ts"
import { SseParser } from "./sse-parser.ts"
import { postJson, readText, streamDeadlines, textChunks, type UpstreamPool } from "./upstream-http.ts"
import { badJson, checkStatus, checkStreamResponse, cutShort, malformedEvent, unexpectedBody } from "./upstream-response.ts"
import { ProviderError, timedOut, type ProviderCall } from "./provider.ts"

/**
 * Anthropic's Messages API passed through (/v1/messages to an Anthropic deployment, kind "messages"):
 * the client's request goes upstream as it came (only `model` and `stream` set), and the answer comes
 * back as Anthropic wrote it, the whole message as its text and a stream as each event's JSON. Only the
 * usage is read on the way, for the meter (rate limits, ledger, span).
 */
type Json = Record<string, any>

const post = (pool: UpstreamPool, call: ProviderCall, headers: Readonly<Record<string, string>>, stream: boolean) => {
  const d = call.deployment
  const body = JSON.stringify({ ...call.body, model: d.model, stream })
  return Effect.flatMap(postJson(pool, `${d.apiBase}/v1/messages`, headers, body), (r) => (stream ? checkStreamResponse(d, r) : checkStatus(d, r)))
}

const meterUsage = (meter: UsageMeter, usage: Json | undefined) => {
  if (usage !== undefined && usage !== null) meter.setUsage(toOpenAiUsage(usage))
}

export const nativeComplete = (pool: UpstreamPool, headers: (call: ProviderCall) => Readonly<Record<string, string>>) =>
  Effect.fnUntraced(function*(call: ProviderCall) {
    const text = yield* readText(yield* post(pool, call, headers(call), false))
    let json: Json | null
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(badJson(call.deployment))
    }
    if (typeof json !== "object" || json === null || json.type !== "message") return yield* Effect.fail(unexpectedBody(call.deployment, "a message", text))
    meterUsage(call.meter, json.usage)
    if (typeof json.stop_reason === "string") call.meter.addFinishReason(json.stop_reason)
    return { json, text }
  }, Effect.scoped)

export const nativeStream = (
  pool: UpstreamPool,
  headers: (call: ProviderCall) => Readonly<Record<string, string>>,
  streamError: (deployment: string, type: string, message: string) => ProviderError
) =>
  Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    const response = yield* post(pool, call, headers(call), true)
    const parser = new SseParser()
    let usage: Json = {}
    let stopped = false
    return textChunks(response, streamDeadlines(d, (what, ms) => timedOut(d, what, ms))).pipe(
      Stream.mapEffect((text) => {
        const out: Array<string> = []
        for (const data of parser.push(text)) {
          let event: Json
          try {
            event = JSON.parse(data)
          } catch {
            return Effect.fail(malformedEvent(d, data))
          }
          if (event.type === "error") return Effect.fail(streamError(d.id, event.error?.type ?? "error", event.error?.message ?? "The upstream stream failed."))
          if (event.type === "message_start") usage = { ...event.message?.usage }
          if (event.type === "message_delta") {
            usage = { ...usage, ...event.usage }
            if (typeof event.delta?.stop_reason === "string") call.meter.addFinishReason(event.delta.stop_reason)
          }
          if (event.type === "message_stop") stopped = true
          meterUsage(call.meter, usage)
          out.push(data)
        }
        return Effect.succeed(out)
      }),
      Stream.flattenIterable,
      failOnEnd(() => (stopped ? undefined : cutShort(d, "message_stop")))
    )
  })

/** POST /v1/messages/count_tokens with the client's body (`model` set): Anthropic's own count, as it answered. */
export const nativeCountTokens = (pool: UpstreamPool, headers: (call: ProviderCall) => Readonly<Record<string, string>>) =>
  Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    const body = JSON.stringify({ ...call.body, model: d.model })
    const text = yield* readText(yield* Effect.flatMap(postJson(pool, `${d.apiBase}/v1/messages/count_tokens`, headers(call), body), (r) => checkStatus(d, r)))
    let json: Json | null
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(badJson(d))
    }
    if (typeof json?.input_tokens !== "number") return yield* Effect.fail(unexpectedBody(d, "a token count", text))
    return { json, text }
  }, Effect.scoped)
