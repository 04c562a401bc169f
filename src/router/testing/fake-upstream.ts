import * as http from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A fake OpenAI/Anthropic-compatible upstream on 127.0.0.1 for router tests. Each request is answered by
 * the next behaviour of its script (the last one repeats; assigning a script restarts it). It records every request and when each
 * request's socket closed, so tests can check that a client's disconnect reached the upstream.
 */
export type Behaviour =
  | { readonly type: "json"; readonly content?: string; readonly delayMs?: number; readonly usage?: Record<string, unknown> }
  | { readonly type: "stream"; readonly chunks?: ReadonlyArray<string>; readonly delayMs?: number; readonly firstDelayMs?: number; readonly usage?: boolean }
  | { readonly type: "status"; readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | { readonly type: "hang" }
  | { readonly type: "drop" }
  | { readonly type: "embed"; readonly embed: (text: string) => Array<number> }
  | { readonly type: "raw"; readonly status?: number; readonly contentType?: string; readonly body: string | ReadonlyArray<string>; readonly delayMs?: number; readonly drop?: boolean; readonly open?: boolean }
  /** A stream that never ends: a content chunk every `intervalMs` until the client goes away. */
  | { readonly type: "drip"; readonly intervalMs: number }

export interface RecordedRequest {
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: any
  readonly receivedAt: number
  /** performance.now() when the request's socket closed (undefined while open). */
  closedAt: number | undefined
}

export interface FakeUpstream {
  readonly url: string
  readonly requests: Array<RecordedRequest>
  script: Array<Behaviour>
  /** Forgets the requests recorded so far and starts `script` (default: answer JSON) from its first behaviour: between tests. */
  readonly reset: (script?: Array<Behaviour>) => void
  readonly close: () => Promise<void>
  /** Resolves with the close time of request `i` once its socket has closed. */
  readonly closed: (i: number) => Promise<number>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const chatResponse = (content: string, model = "upstream-model", usage: Record<string, unknown> = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }) => ({
  id: "chatcmpl-fake",
  object: "chat.completion",
  created: 1,
  model,
  choices: [{ index: 0, message: { role: "assistant", content }, logprobs: null, finish_reason: "stop" }],
  usage
})

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-fake",
  object: "chat.completion.chunk",
  created: 1,
  model: "upstream-model",
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
})

export const startFakeUpstream = async (script: Array<Behaviour>): Promise<FakeUpstream> => {
  const requests: Array<RecordedRequest> = []
  const waiters = new Map<number, Array<(t: number) => void>>()
  let next = 0
  let current = script
  const upstream: FakeUpstream = {
    url: "",
    requests,
    // Setting a script starts it from its first behaviour.
    get script() {
      return current
    },
    set script(s) {
      current = s
      next = 0
    },
    reset: (s = [{ type: "json" }]) => {
      requests.length = 0
      upstream.script = s
    },
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
    closed: (i) =>
      new Promise((resolve) => {
        const at = requests[i]?.closedAt
        if (at !== undefined) return resolve(at)
        waiters.set(i, [...(waiters.get(i) ?? []), resolve])
      })
  }
  const server = http.createServer(async (req, res) => {
    let text = ""
    for await (const c of req) text += c
    const index = requests.length
    const record: RecordedRequest = { path: req.url ?? "", headers: req.headers, body: text === "" ? null : JSON.parse(text), receivedAt: performance.now(), closedAt: undefined }
    requests.push(record)
    // 'close' on the response fires when the exchange ends or the peer goes away; a kept-alive socket
    // stays open after a finished response, so a finished response is not a closed socket.
    let finished = false
    res.on("finish", () => (finished = true))
    const onClose = () => {
      if (finished) return
      record.closedAt = performance.now()
      for (const w of waiters.get(index) ?? []) w(record.closedAt)
    }
    res.on("close", onClose)
    const behaviour = upstream.script[Math.min(next++, upstream.script.length - 1)]
    const alive = () => !res.destroyed && !res.writableEnded
    switch (behaviour.type) {
      case "json":
        if (behaviour.delayMs) await sleep(behaviour.delayMs)
        if (!alive()) return
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(chatResponse(behaviour.content ?? "hello", "upstream-model", behaviour.usage)))
        return
      case "stream": {
        if (behaviour.firstDelayMs) await sleep(behaviour.firstDelayMs)
        if (!alive()) return
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(`data: ${JSON.stringify(chunk({ role: "assistant", content: "" }))}\n\n`)
        for (const c of behaviour.chunks ?? ["hel", "lo"]) {
          if (behaviour.delayMs) await sleep(behaviour.delayMs)
          if (!alive()) return
          res.write(`data: ${JSON.stringify(chunk({ content: c }))}\n\n`)
        }
        res.write(`data: ${JSON.stringify(chunk({}, "stop"))}\n\n`)
        if (behaviour.usage !== false && record.body?.stream_options?.include_usage) {
          res.write(`data: ${JSON.stringify({ ...chunk({}), choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })}\n\n`)
        }
        res.end("data: [DONE]\n\n")
        return
      }
      case "status":
        res.writeHead(behaviour.status, { "content-type": "application/json", ...behaviour.headers }).end(JSON.stringify(behaviour.body ?? { error: { message: `fake ${behaviour.status}`, type: "server_error", code: null } }))
        return
      case "embed": {
        const input: Array<string> = Array.isArray(record.body.input) ? record.body.input : [record.body.input]
        // As OpenAI's text-embedding-3 models: `dimensions` shortens the vectors; usage counts the input (a word a token here).
        const dimensions: number | undefined = record.body.dimensions ?? undefined
        const data = input.map((text, index) => ({ object: "embedding", index, embedding: behaviour.embed(text).slice(0, dimensions) }))
        const tokens = input.reduce((n, text) => n + text.split(/\s+/).filter(Boolean).length, 0)
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data, model: record.body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }))
        return
      }
      case "hang":
        return
      case "drop":
        req.socket.destroy()
        return
      case "raw": {
        res.writeHead(behaviour.status ?? 200, { "content-type": behaviour.contentType ?? "text/event-stream" })
        for (const part of typeof behaviour.body === "string" ? [behaviour.body] : behaviour.body) {
          if (behaviour.delayMs) await sleep(behaviour.delayMs)
          if (!alive()) return
          res.write(part)
        }
        // drop: the connection breaks mid-body (no terminating chunk), as when an upstream crashes;
        // open: it stays open, silent (a stalled upstream)
        if (behaviour.drop) setTimeout(() => req.socket.destroy(), 10)
        else if (!behaviour.open) res.end()
        return
      }
      case "drip": {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(`data: ${JSON.stringify(chunk({ role: "assistant", content: "" }))}\n\n`)
        while (alive()) {
          await sleep(behaviour.intervalMs)
          if (alive()) res.write(`data: ${JSON.stringify(chunk({ content: "." }))}\n\n`)
        }
        return
      }
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  ;(upstream as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return upstream
}
