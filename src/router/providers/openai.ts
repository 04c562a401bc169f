import { Effect, Stream } from "effect"
import type { DeploymentConfig } from "../config.ts"
import { deploymentHeaders } from "./deployment-headers.ts"
import { SseParser } from "./sse-parser.ts"
import { upstreamError } from "./upstream-error.ts"
import { postJson, postJsonForText, readText, textChunks, type UpstreamPool, type UpstreamResponse } from "./upstream-http.ts"
import type { UsageMeter } from "../../api/usage-meter.ts"
import { ProviderError, timedOut, type Provider, type ProviderCall } from "./provider.ts"

const path = (call: ProviderCall) => (call.kind === "chat" ? "/chat/completions" : "/completions")

/** An OpenAI-compatible deployment's request headers (auth from api_key, then extra_headers), made once per deployment. */
export const openAiHeaders = deploymentHeaders((d): Record<string, string> => (d.apiKey === undefined ? {} : { authorization: `Bearer ${d.apiKey}` }))

/** Fails with the classified upstream error unless the status is 2xx. */
const checkStatus = (d: DeploymentConfig, response: UpstreamResponse) =>
  response.status >= 200 && response.status < 300
    ? Effect.succeed(response)
    : Effect.flatMap(readText(response), (text) => Effect.fail(upstreamError(d.id, response.status, response.headers, text)))

const badJson = (d: DeploymentConfig) => new ProviderError({ kind: "server", message: "it answered with a body that is not JSON.", deployment: d.id })

/** A usage-only chunk (`choices: []`) the client did not ask for: it is read for metering, not forwarded. */
const USAGE_ONLY = /"choices"\s*:\s*\[\s*\]/

/**
 * The chunks of an upstream stream, passed through as the upstream wrote them (no parse and re-encode),
 * except that usage is read from the chunk that carries it. Since the router always asks for usage,
 * a usage-only chunk is dropped when the client did not ask for it.
 */
const FINISH_REASON = /"finish_reason":\s*"([a-z_]+)"/

const passThrough = (chunks: Stream.Stream<string, ProviderError>, meter: UsageMeter, clientWantsUsage: boolean) => {
  const parser = new SseParser()
  return chunks.pipe(
    Stream.map((text) => {
      const out: Array<string> = []
      for (const data of parser.push(text)) {
        if (data === "[DONE]") continue
        // A cheap look for the finish reason (no parse): it goes to the request's span and ledger row.
        const finish = FINISH_REASON.exec(data)
        if (finish !== null) meter.addFinishReason(finish[1])
        if (data.includes("\"usage\":{") || data.includes("\"usage\": {")) {
          try {
            const usage = (JSON.parse(data) as { usage?: Parameters<UsageMeter["setUsage"]>[0] }).usage
            if (usage) meter.setUsage(usage)
          } catch {
            // not JSON: passed on as it is
          }
          if (!clientWantsUsage && USAGE_ONLY.test(data)) continue
        }
        out.push(data)
      }
      return out
    }),
    Stream.flattenIterable
  )
}

/** OpenAI-compatible upstreams: OpenAI, vLLM, llama.cpp server, Ollama's /v1, another Inferline. */
export const openAiProvider = (pool: UpstreamPool): Provider => ({
  name: "openai",
  completeTimesOut: true,
  // Generators made once per provider, not per call (see bench/scavenge-survivors.ts).
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    const body = JSON.stringify({ ...call.body, model: d.model, stream: false })
    const deadline = { ms: d.timeoutMs, error: () => timedOut(d, "response", d.timeoutMs) }
    const { status, headers, text } = yield* postJsonForText(pool, d.apiBase + path(call), openAiHeaders(d), body, deadline)
    if (status < 200 || status >= 300) return yield* Effect.fail(upstreamError(d.id, status, headers, text))
    let json: { usage?: Parameters<UsageMeter["setUsage"]>[0] }
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(badJson(d))
    }
    if (json.usage) call.meter.setUsage(json.usage)
    return { json, text }
  }),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    const d = call.deployment
    const options = (call.body.stream_options ?? {}) as Record<string, unknown>
    const clientWantsUsage = options.include_usage === true
    const body = JSON.stringify({ ...call.body, model: d.model, stream: true, stream_options: { ...options, include_usage: true } })
    const response = yield* Effect.flatMap(postJson(pool, d.apiBase + path(call), openAiHeaders(d), body), (r) => checkStatus(d, r))
    return passThrough(textChunks(response), call.meter, clientWantsUsage)
  })
})
