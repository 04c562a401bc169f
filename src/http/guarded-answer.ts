import { Cause, Channel, Effect, Pull, Stream } from "effect"
import type { GuardrailViolation, OutputGuard } from "../guardrails/output-guard.ts"

/**
 * An answer through its output guard (src/guardrails/output-guard.ts), in OpenAI's shapes: a whole
 * response's choices, or a stream's chunks (JSON text) with each choice's text released as the guard
 * allows. A violation ends the choice with finish_reason "content_filter"; in a stream it ends the
 * whole stream at once, so the engine sequence or the upstream request behind it is aborted.
 */

type Json = Record<string, any>

/** A whole response with its choices guarded, and the violations found. */
export const guardResponse = (kind: "chat" | "completions", response: Json, guard: OutputGuard): { readonly response: Json; readonly violations: ReadonlyArray<GuardrailViolation> } => {
  if (!Array.isArray(response.choices)) return { response, violations: [] }
  const violations: Array<GuardrailViolation> = []
  const choices = response.choices.map((c: Json) => {
    const text = kind === "chat" ? c.message?.content : c.text
    if (typeof text !== "string") return c
    const released = guard.whole(text)
    if (released.violation !== undefined) violations.push(released.violation)
    const finish = released.violation === undefined ? {} : { finish_reason: "content_filter" }
    return kind === "chat" ? { ...c, message: { ...c.message, content: released.text }, ...finish } : { ...c, text: released.text, ...finish }
  })
  return { response: { ...response, choices }, violations }
}

/** The streamed text of a choice in a chunk (chat: delta.content; completions: text). */
const textOf = (kind: "chat" | "completions", c: Json): string | undefined => {
  const t = kind === "chat" ? c.delta?.content : c.text
  return typeof t === "string" && t !== "" ? t : undefined
}

const withText = (kind: "chat" | "completions", c: Json, text: string): Json =>
  kind === "chat" ? { ...c, delta: { ...c.delta, content: text } } : { ...c, text }

/** A chunk like `envelope` carrying only `choices`. */
const chunkOf = (envelope: Json, choices: ReadonlyArray<Json>) => JSON.stringify({ ...envelope, choices })

/** Whether a choice delta says anything but text (a role, tool calls, a finish reason, logprobs). */
const hasMoreThanText = (kind: "chat" | "completions", c: Json) =>
  c.finish_reason != null || c.logprobs != null || (kind === "chat" && Object.keys(c.delta ?? {}).some((k) => k !== "content"))

/**
 * One stream chunk through the guard: the chunks to send for it (possibly none, while text is held
 * back; a text chunk before a finish chunk when the end of a choice releases the rest), and the
 * violation that ends the stream, if any.
 */
const guardChunk = (kind: "chat" | "completions", json: string, guard: OutputGuard, open: Set<number>): { out: Array<string>; violation?: GuardrailViolation } => {
  let chunk: Json
  try {
    chunk = JSON.parse(json)
  } catch {
    return { out: [json] }
  }
  if (!Array.isArray(chunk.choices) || chunk.choices.length === 0) return { out: [json] }
  const { choices, ...envelope } = chunk
  const out: Array<string> = []
  const kept: Array<Json> = []
  for (const c of choices as Array<Json>) {
    const index = typeof c.index === "number" ? c.index : 0
    open.add(index)
    const text = textOf(kind, c)
    const released = text === undefined ? { text: "" } : guard.push(index, text)
    if (released.violation !== undefined) {
      if (released.text !== "") out.push(chunkOf(envelope, [withText(kind, c, released.text)]))
      return { out, violation: released.violation }
    }
    let choice = text === undefined ? c : withText(kind, c, released.text)
    if (c.finish_reason != null) {
      const rest = guard.end(index)
      if (rest.violation !== undefined) {
        if (rest.text !== "") out.push(chunkOf(envelope, [withText(kind, { index, delta: {}, logprobs: null, finish_reason: null }, released.text + rest.text)]))
        return { out, violation: rest.violation }
      }
      if (rest.text !== "") out.push(chunkOf(envelope, [withText(kind, { index, delta: {}, logprobs: null, finish_reason: null }, released.text + rest.text)]))
      choice = text === undefined ? c : withText(kind, c, "")
      open.delete(index)
    }
    if (textOf(kind, choice) !== undefined || hasMoreThanText(kind, choice)) kept.push(choice)
  }
  if (kept.length > 0) out.push(chunkOf(envelope, kept))
  return { out }
}

/** The chunk ending a choice the guard stopped, as OpenAI ends a filtered one. */
const filteredChunk = (kind: "chat" | "completions", envelope: Json, index: number) =>
  chunkOf(envelope, [kind === "chat" ? { index, delta: {}, logprobs: null, finish_reason: "content_filter" } : { index, text: "", logprobs: null, finish_reason: "content_filter" }])

/**
 * A stream of chunks (JSON text) through the guard. When the upstream stream ends, what is still held
 * back goes out after a last check. A violation sends the released text, a content_filter finish for
 * every open choice (`lastUsage`, when the client asked for usage, as the last chunk) and ends the
 * stream: the stream behind it is closed, which aborts its engine sequence or upstream request.
 */
export const guardChunks = <E, R>(
  kind: "chat" | "completions",
  chunks: Stream.Stream<string, E, R>,
  guard: OutputGuard,
  onViolation: (v: GuardrailViolation) => Effect.Effect<void>,
  lastUsage: () => string | undefined
): Stream.Stream<string, E, R> =>
  Stream.fromChannel(Channel.transformPull(Stream.toChannel(chunks), (pull: any) =>
    Effect.sync(() => {
      const open = new Set<number>()
      let envelope: Json = {}
      let stopped = false
      const stop = (v: GuardrailViolation, out: Array<string>) => {
        stopped = true
        for (const index of open) out.push(filteredChunk(kind, envelope, index))
        const usage = lastUsage()
        if (usage !== undefined) out.push(usage)
        return Effect.as(onViolation(v), out)
      }
      const onChunks = (batch: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>> => {
        const out: Array<string> = []
        for (const json of batch) {
          if (envelope.id === undefined) {
            try {
              const { choices: _, usage: __, ...rest } = JSON.parse(json)
              envelope = rest
            } catch {
              // not JSON: passed on as it is
            }
          }
          const r = guardChunk(kind, json, guard, open)
          out.push(...r.out)
          if (r.violation !== undefined) return stop(r.violation, out)
        }
        return Effect.succeed(out)
      }
      return Effect.suspend((): Effect.Effect<ReadonlyArray<string>, any> => {
        if (stopped) return Cause.done()
        return Pull.catchDone(Effect.flatMap(pull, onChunks), (leftover) => {
          if (stopped) return Cause.done(leftover)
          // The upstream ended without finishing some choices: release what they hold.
          const out: Array<string> = []
          for (const index of [...open]) {
            const rest = guard.end(index)
            if (rest.text !== "") out.push(chunkOf(envelope, [withText(kind, { index, delta: {}, logprobs: null, finish_reason: null }, rest.text)]))
            if (rest.violation !== undefined) return stop(rest.violation, out)
          }
          stopped = true
          return out.length > 0 ? Effect.succeed(out) : Cause.done(leftover)
        })
      })
    })) as any) as Stream.Stream<string, E, R>
