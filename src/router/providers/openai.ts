import { Effect, Stream } from "effect"
import type { DeploymentConfig } from "../config.ts"
import { deploymentHeaders } from "./deployment-headers.ts"
import { failOnEnd } from "../../effect/stream-pull.ts"
import { SseParser } from "./sse-parser.ts"
import { postJson, postJsonForText, streamDeadlines, textChunks, type UpstreamPool } from "./upstream-http.ts"
import { badJson, checkStreamResponse, cutShort, malformedEvent, unexpectedBody } from "./upstream-response.ts"
import { upstreamError } from "./upstream-error.ts"
import type { UsageMeter } from "../../api/usage-meter.ts"
import { ProviderError, timedOut, type EndpointKind, type Provider, type ProviderCall } from "./provider.ts"

const PATHS: Readonly<Record<Exclude<EndpointKind, "messages">, string>> = { chat: "/chat/completions", completions: "/completions", embeddings: "/embeddings" }
// Anthropic messages never reach this provider (it does not serve them).
const path = (call: ProviderCall) => PATHS[call.kind as Exclude<EndpointKind, "messages">]

/** An OpenAI-compatible deployment's request headers (auth from api_key, then extra_headers), made once per deployment. */
export const openAiHeaders = deploymentHeaders((d): Record<string, string> => (d.apiKey === undefined ? {} : { authorization: `Bearer ${d.apiKey}` }))

/** A usage-only chunk (`choices: []`) the client did not ask for: it is read for metering, not forwarded. */
const USAGE_ONLY = /"choices"\s*:\s*\[\s*\]/

const FINISH_REASON = /"finish_reason":\s*"([a-z_]+)"/
const MODEL = /"model":\s*"([^"\\]{1,200})"/

/**
 * A raw control character cannot be in a JSON event (strings escape them; newlines and tabs may
 * separate tokens): an event with one is not what an OpenAI-compatible server sends, and a NUL passed
 * on would reach clients and the ledger.
 */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/

/**
 * The chunks of an upstream stream, passed through as the upstream wrote them (no parse and re-encode),
 * except that usage is read from the chunk that carries it, and that each event must look like a JSON
 * object (else the stream fails as the upstream's fault). Since the router always asks for usage, a
 * usage-only chunk is dropped when the client did not ask for it. A stream that ends before a finish
 * reason or [DONE] fails: it was cut short, and must not pass as a complete answer.
 */
const passThrough = (d: DeploymentConfig, chunks: Stream.Stream<string, ProviderError>, meter: UsageMeter, clientWantsUsage: boolean) =>
  Stream.suspend(() => {
    const parser = new SseParser()
    let complete = false
    return chunks.pipe(
      Stream.mapEffect((text) => {
        const out: Array<string> = []
        for (const data of parser.push(text)) {
          if (data === "[DONE]") {
            complete = true
            continue
          }
          if (data.charCodeAt(0) !== 123 /* { */ || CONTROL_CHARACTER.test(data)) return Effect.fail(malformedEvent(d, data))
          // Cheap looks (no parse) for the model and the finish reason: they go to the span and ledger row.
          if (meter.responseModel === undefined) meter.responseModel = MODEL.exec(data)?.[1]
          const finish = FINISH_REASON.exec(data)
          if (finish !== null) {
            meter.addFinishReason(finish[1])
            complete = true
          }
          if (data.includes("\"usage\":{") || data.includes("\"usage\": {")) {
            try {
              const usage = (JSON.parse(data) as { usage?: Parameters<UsageMeter["setUsage"]>[0] }).usage
              if (usage) meter.setUsage(usage)
            } catch {
              return Effect.fail(malformedEvent(d, data))
            }
            if (!clientWantsUsage && USAGE_ONLY.test(data)) continue
          }
          out.push(data)
        }
        return Effect.succeed(out)
      }),
      Stream.flattenIterable,
      failOnEnd(() => (complete ? undefined : cutShort(d, "a finish reason or [DONE]")))
    )
  })

/** OpenAI-compatible upstreams: OpenAI, vLLM, llama.cpp server, Ollama's /v1, another Inferline. */
export const openAiProvider = (pool: UpstreamPool): Provider => ({
  name: "openai",
  completeTimesOut: true,
  serves: (kind) => kind !== "messages",
  // Generators made once per provider, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    // Embeddings have no `stream` field (OpenAI refuses one it does not know).
    const body = JSON.stringify(call.kind === "embeddings" ? { ...call.body, model: d.model } : { ...call.body, model: d.model, stream: false })
    const deadline = { ms: d.timeoutMs, error: () => timedOut(d, "response", d.timeoutMs) }
    const { status, headers, text } = yield* postJsonForText(pool, d.apiBase + path(call), openAiHeaders(d), body, deadline)
    if (status < 200 || status >= 300) return yield* Effect.fail(upstreamError(d.id, status, headers, text))
    let json: { usage?: Parameters<UsageMeter["setUsage"]>[0]; choices?: unknown; data?: unknown } | null
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(badJson(d))
    }
    if (call.kind === "embeddings") {
      if (typeof json !== "object" || json === null || !Array.isArray(json.data)) return yield* Effect.fail(unexpectedBody(d, "embeddings (no data)", text))
    } else if (typeof json !== "object" || json === null || !Array.isArray(json.choices)) return yield* Effect.fail(unexpectedBody(d, "a completion (no choices)", text))
    if (json.usage) call.meter.setUsage(json.usage)
    return { json, text }
  }),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    const options = (call.body.stream_options ?? {}) as Record<string, unknown>
    const clientWantsUsage = options.include_usage === true
    const body = JSON.stringify({ ...call.body, model: d.model, stream: true, stream_options: { ...options, include_usage: true } })
    const response = yield* Effect.flatMap(postJson(pool, d.apiBase + path(call), openAiHeaders(d), body), (r) => checkStreamResponse(d, r))
    return passThrough(d, textChunks(response, streamDeadlines(d, (what, ms) => timedOut(d, what, ms))), call.meter, clientWantsUsage)
  })
})
