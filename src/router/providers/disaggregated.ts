import { Effect, Stream } from "effect"
import type { DeploymentConfig } from "../config.ts"
import type { CompleteResult, Provider, ProviderCall } from "./provider.ts"

/**
 * A disaggregated deployment (`disaggregated/<model>`): each request's prefill goes to the deployment's
 * prefill server (`prefill_api_base`, an `inferline serve --kv-role prefill`) with kv_transfer_params
 * do_remote_decode, which answers with the first token and a transfer id; the rest comes from the decode
 * server (`api_base`, `--kv-role decode`) with do_remote_prefill, which fetches the prompt's KV instead of
 * computing it. The client sees one answer: the first token's text, then the decode server's.
 *
 * Either side failing fails the attempt like any deployment's failure, so the router retries and falls back
 * to the group's other (colocated) deployments. Closing the attempt aborts whichever request is in flight;
 * the prefill server freed its blocks when it handed the KV over, the decode server frees its own when
 * its client (this router) goes away.
 */

type Json = Record<string, unknown>

/** What one request cannot be split over two servers: it is served whole by the decode server. */
const wholeOnly = (call: ProviderCall): boolean => {
  const b = call.body
  const prompt = b.prompt
  return (b.n != null && b.n !== 1) ||
    (Array.isArray(prompt) && prompt.length > 0 && (typeof prompt[0] === "string" || Array.isArray(prompt[0])) && prompt.length !== 1) ||
    (b.logprobs != null && b.logprobs !== false) || b.prompt_logprobs != null || b.echo === true
}

const prefillSide = (d: DeploymentConfig): DeploymentConfig => ({ ...d, id: `${d.id}:prefill`, apiBase: d.prefillApiBase! })

const prefillCall = (call: ProviderCall): ProviderCall => ({
  ...call,
  deployment: prefillSide(call.deployment),
  body: { ...call.body, stream: false, stream_options: undefined, kv_transfer_params: { do_remote_decode: true } }
})

const decodeCall = (call: ProviderCall, transferId: string): ProviderCall => ({
  ...call,
  body: { ...call.body, kv_transfer_params: { do_remote_prefill: true, transfer_id: transferId } }
})

const transferIdOf = (json: unknown): string | undefined => {
  const id = ((json as Json).kv_transfer_params as Json | undefined)?.transfer_id
  return typeof id === "string" ? id : undefined
}

const choiceOf = (json: unknown): Json => (((json as Json).choices as Array<Json> | undefined)?.[0] ?? {})

/** The first choice's text so far (chat: message content; completions: text). */
const textOf = (kind: ProviderCall["kind"], json: unknown): string => {
  const c = choiceOf(json)
  const text = kind === "chat" ? (c.message as Json | undefined)?.content : c.text
  return typeof text === "string" ? text : ""
}

/** The decode server's answer with the prefill server's first token in front of its text. */
const joined = (kind: ProviderCall["kind"], first: unknown, rest: unknown): unknown => {
  const r = rest as Json
  const c = choiceOf(rest)
  const head = textOf(kind, first)
  const choice = kind === "chat"
    ? { ...c, message: { ...(c.message as Json), content: head + textOf(kind, rest) } }
    : { ...c, text: head + textOf(kind, rest) }
  return { ...r, choices: [choice, ...((r.choices as Array<unknown>).slice(1))] }
}

/** A chunk carrying text for choice 0, shaped as the endpoint's stream chunks (finish reason when it ends there). */
const chunkOf = (kind: ProviderCall["kind"], json: unknown, text: string, finishReason: unknown): Json => {
  const j = json as Json
  const choice = kind === "chat"
    ? { index: 0, delta: { role: "assistant", content: text }, logprobs: null, finish_reason: finishReason }
    : { index: 0, text, logprobs: null, finish_reason: finishReason }
  return { id: j.id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: j.created, model: j.model, choices: [choice] }
}

export const disaggregatedProvider = (openAi: Provider): Provider => ({
  name: "disaggregated",
  completeTimesOut: true,
  serves: (kind) => kind === "chat" || kind === "completions",
  complete: Effect.fnUntraced(function*(call: ProviderCall) {
    if (wholeOnly(call)) return yield* openAi.complete(call)
    const first = yield* openAi.complete(prefillCall(call))
    const transferId = transferIdOf(first.json)
    // No transfer: the first token ended the request; the prefill server's answer is the whole answer.
    if (transferId === undefined) return first
    const rest = yield* openAi.complete(decodeCall(call, transferId))
    return { json: joined(call.kind, first.json, rest.json), text: undefined } satisfies CompleteResult
  }),
  stream: Effect.fnUntraced(function*(call: ProviderCall) {
    if (wholeOnly(call)) return yield* openAi.stream(call)
    const first = yield* openAi.complete(prefillCall(call))
    const transferId = transferIdOf(first.json)
    // Without a transfer the first token ended the request: this chunk is the whole answer and carries its finish reason.
    const finish = transferId === undefined ? String(choiceOf(first.json).finish_reason ?? "stop") : null
    const head = chunkOf(call.kind, first.json, textOf(call.kind, first.json), finish)
    if (transferId === undefined) {
      call.meter.addFinishReason(finish)
      const wantsUsage = (call.body.stream_options as Json | undefined)?.include_usage === true
      const usage = { ...chunkOf(call.kind, first.json, "", null), choices: [], usage: (first.json as Json).usage }
      return Stream.fromIterable(wantsUsage ? [head, usage] : [head]).pipe(Stream.map((c) => JSON.stringify(c)))
    }
    const rest = yield* openAi.stream(decodeCall(call, transferId))
    return Stream.concat(Stream.make(JSON.stringify(head)), rest)
  })
})
