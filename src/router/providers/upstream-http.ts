import { Cause, Effect, Stream, type Scope } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { addFinalizerExit } from "../../effect/scope-finalizer.ts"
import type { DeploymentConfig } from "../config.ts"
import { ProviderError } from "./provider.ts"

/**
 * Keep-alive connection pools for upstream deployments, one per protocol, with at most
 * `maxConnectionsPerHost` sockets per host:port (requests beyond it queue in the agent). node:http rather
 * than fetch: aborting destroys the request's socket at once, which is how a client's disconnect
 * reaches the upstream, and it costs less per request than fetch on the hot path.
 */
export interface UpstreamPool {
  readonly http: http.Agent
  readonly https: https.Agent
  readonly close: () => void
}

export const makeUpstreamPool = (maxConnectionsPerHost: number): UpstreamPool => {
  const options = { keepAlive: true, maxSockets: maxConnectionsPerHost > 0 ? maxConnectionsPerHost : Infinity, scheduling: "lifo" as const }
  const pool = { http: new http.Agent(options), https: new https.Agent(options) }
  return { ...pool, close: () => (pool.http.destroy(), pool.https.destroy()) }
}

export interface UpstreamResponse {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: http.IncomingMessage
}

// Client-safe messages; the host and the system's error text go to the log only (`detail`).
const connectionError = (url: string, e: unknown) =>
  new ProviderError({ kind: "connection", message: "it could not be reached.", detail: `Could not reach the upstream ${new URL(url).host}: ${(e as Error).message}` })
const bodyFailed = (e: Error) => new ProviderError({ kind: "connection", message: "the connection failed mid-response.", detail: `The upstream connection failed: ${e.message}` })
const bodyCutShort = () => new ProviderError({ kind: "connection", message: "it closed the connection mid-response." })

/**
 * The most text one upstream response body (non-streaming) may hold, and one server-sent event of a
 * stream: a broken upstream that never ends its body or its event would otherwise grow this process's
 * memory until it dies, taking every other request with it.
 */
export const MAX_UPSTREAM_BODY_CHARS = 64 * 1024 * 1024
export const MAX_UPSTREAM_EVENT_CHARS = 8 * 1024 * 1024
const tooLarge = (what: string, limit: number) =>
  new ProviderError({ kind: "server", message: `its ${what} is larger than ${limit / (1024 * 1024)} MiB.` })

/** Where a request goes, as node:http's options: parsed once per URL (see `targetOf`). */
interface RequestTarget {
  readonly secure: boolean
  readonly hostname: string
  readonly port: string
  readonly path: string
  readonly auth: string | undefined
}

/**
 * Upstream URLs are a deployment's api_base plus an endpoint, a small fixed set: each is parsed once.
 * Given a URL string, node:http parses it and copies the result into a fresh options object on every
 * request (~2 KB and a few microseconds each); the cap only guards against a config that makes URLs
 * without end.
 */
const targets = new Map<string, RequestTarget>()
const targetOf = (url: string): RequestTarget => {
  let target = targets.get(url)
  if (target === undefined) {
    const u = new URL(url)
    target = {
      secure: u.protocol === "https:",
      // node:http wants an IPv6 literal without its brackets.
      hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      auth: u.username || u.password ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined
    }
    if (targets.size < 1024) targets.set(url, target)
  }
  return target
}

/** A POST of JSON through the pool, not yet sent (the caller attaches its listeners, then ends it with the body). */
const postRequest = (pool: UpstreamPool, url: string, headers: Readonly<Record<string, string>>, body: string): http.ClientRequest => {
  const target = targetOf(url)
  return (target.secure ? https : http).request({
    hostname: target.hostname,
    port: target.port,
    path: target.path,
    auth: target.auth,
    method: "POST",
    agent: target.secure ? pool.https : pool.http,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers }
  })
}

/**
 * POSTs JSON and succeeds with the response once its headers are in. The request belongs to the
 * caller's scope: closing the scope before the body has been read to the end (interruption, timeout,
 * fallback) destroys the socket, so the upstream sees the connection close. Waiting for the headers
 * stays interruptible (no acquireRelease, whose acquire is not), so a client leaving before the first
 * byte aborts the upstream request too.
 */
export const postJson: (
  pool: UpstreamPool,
  url: string,
  headers: Readonly<Record<string, string>>,
  body: string
) => Effect.Effect<UpstreamResponse, ProviderError, Scope.Scope> = Effect.fnUntraced(function*(pool, url, headers, body) {
  let response: http.IncomingMessage | undefined
  const request = postRequest(pool, url, headers, body)
  yield* addFinalizerExit(() => Effect.sync(() => {
    if (response === undefined || !response.complete) request.destroy()
  }))
  response = yield* Effect.callback<http.IncomingMessage, ProviderError>((resume) => {
    request.on("response", (r) => resume(Effect.succeed(r)))
    request.on("error", (e) => resume(Effect.fail(connectionError(url, e))))
    request.end(body)
  })
  response.setEncoding("utf8")
  return { status: response.statusCode ?? 0, headers: response.headers, body: response }
})

/** A whole upstream response: status, headers and the body as text. */
export interface UpstreamText {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
}

/**
 * POSTs JSON and reads the whole response, in one callback (the non-streaming hot path: no scope, no
 * finalizer, no second callback, no racing fiber for the deadline). Interruption — the client gone, a
 * fallback — and the deadline destroy the request at once, whatever stage it is at, so the upstream sees
 * its socket close.
 */
export const postJsonForText = (
  pool: UpstreamPool,
  url: string,
  headers: Readonly<Record<string, string>>,
  body: string,
  deadline: { readonly ms: number; readonly error: () => ProviderError }
): Effect.Effect<UpstreamText, ProviderError> =>
  Effect.callback<UpstreamText, ProviderError>((resume) => {
    let settled = false
    const request = postRequest(pool, url, headers, body)
    // The first outcome wins; the others only clean up.
    const settle = (outcome: Effect.Effect<UpstreamText, ProviderError>, destroy: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (destroy) request.destroy()
      resume(outcome)
    }
    // (Node's timers hold at most 2^31-1 ms; a longer deadline is as good as none.)
    const timer = setTimeout(() => settle(Effect.fail(deadline.error()), true), Math.min(deadline.ms, 2 ** 31 - 1))
    request.on("error", (e) => settle(Effect.fail(connectionError(url, e)), false))
    request.on("response", (response) => {
      response.setEncoding("utf8")
      collectText(response, (text) => settle(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, text }), false), (e) => settle(Effect.fail(e), true))
    })
    request.end(body)
    return Effect.sync(() => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      request.destroy()
    })
  })

/**
 * Reads a body (already decoding as utf-8) to its end: `done` with the text, or `failed` once, on an
 * error, a cut, or more than MAX_UPSTREAM_BODY_CHARS; the caller then destroys the connection.
 */
const collectText = (body: http.IncomingMessage, done: (text: string) => void, failed: (e: ProviderError) => void) => {
  let text = ""
  let over = false
  body.on("data", (chunk: string) => {
    if (over) return
    text += chunk
    if (text.length > MAX_UPSTREAM_BODY_CHARS) {
      over = true
      failed(tooLarge("response", MAX_UPSTREAM_BODY_CHARS))
    }
  })
  body.on("end", () => done(text))
  body.on("error", (e) => failed(bodyFailed(e)))
  body.on("aborted", () => failed(bodyCutShort()))
}

/** The whole body as text (utf-8). Interrupting it leaves the socket to the scope's release. */
export const readText = (response: UpstreamResponse): Effect.Effect<string, ProviderError> =>
  Effect.callback<string, ProviderError>((resume) => {
    let settled = false
    collectText(response.body, (text) => {
      if (!settled) (settled = true), resume(Effect.succeed(text))
    }, (e) => {
      if (settled) return
      settled = true
      response.body.destroy()
      resume(Effect.fail(e))
    })
  })

/**
 * How long a stream may keep its reader waiting: `idleMs` between chunks (only while the reader waits:
 * a slow client is not the upstream's silence), `totalMs` for the whole body. On expiry the stream
 * fails with `expired(what, ms)` and the connection is closed, which aborts the upstream request.
 */
export interface StreamDeadlines {
  readonly idleMs: number
  readonly totalMs: number
  readonly expired: (what: "idle" | "total", ms: number) => ProviderError
}

/**
 * A deployment's deadlines for a stream: its `stream_timeout` between chunks (what LiteLLM gives its
 * HTTP client as the read timeout) and its `timeout` for the whole stream.
 */
export const streamDeadlines = (d: DeploymentConfig, timedOut: (what: string, ms: number) => ProviderError): StreamDeadlines => ({
  idleMs: d.streamTimeoutMs,
  totalMs: d.timeoutMs,
  expired: (what, ms) => timedOut(what === "idle" ? "next chunk" : "end of the stream", ms)
})

/** Node's timers hold at most 2^31-1 ms; a longer deadline is as good as none. */
const timerMs = (ms: number) => Math.min(ms, 2 ** 31 - 1)

/**
 * The body's text chunks as they arrive, read when pulled (the socket's own buffering is the backpressure:
 * nothing is read ahead of the consumer); a dropped connection fails the stream. A pull over the Node
 * stream rather than Stream.fromAsyncIterable, which makes a generator function per call (see
 * src/effect/stream-pull.ts).
 */
export const textChunks = (response: UpstreamResponse, deadlines?: StreamDeadlines): Stream.Stream<string, ProviderError> =>
  Stream.fromPull(Effect.sync(() => {
    const body = response.body
    let ended = false
    let failure: ProviderError | undefined
    let waiting: (() => void) | undefined
    const wake = () => {
      const w = waiting
      waiting = undefined
      w?.()
    }
    const expire = (what: "idle" | "total", ms: number) => {
      if (ended || failure !== undefined) return
      failure = deadlines!.expired(what, ms)
      body.destroy()
      wake()
    }
    // The idle deadline counts only while the reader waits for data (`waitingSince`): one timer, which
    // re-arms itself for what is left while the stream is busy; the total deadline runs from the first pull.
    let waitingSince = 0
    let watchdog: NodeJS.Timeout | undefined
    let total: NodeJS.Timeout | undefined
    const checkIdle = () => {
      watchdog = undefined
      if (deadlines === undefined || ended || failure !== undefined) return
      const waited = waiting === undefined ? 0 : performance.now() - waitingSince
      if (waited >= deadlines.idleMs) return expire("idle", deadlines.idleMs)
      watchdog = setTimeout(checkIdle, timerMs(Math.max(1, deadlines.idleMs - waited)))
      watchdog.unref()
    }
    const stopTimers = () => {
      clearTimeout(watchdog)
      clearTimeout(total)
    }
    body.on("readable", wake)
    body.on("end", () => {
      ended = true
      stopTimers()
      wake()
    })
    body.on("error", (e) => {
      failure ??= bodyFailed(e)
      stopTimers()
      wake()
    })
    body.on("close", () => {
      if (!ended) failure ??= bodyCutShort()
      stopTimers()
      wake()
    })
    // Characters since the last blank line (the end of an event); approximate across chunk boundaries,
    // which only ever makes it count less.
    let sinceEvent = 0
    return Effect.callback<ReadonlyArray<string>, ProviderError | Cause.Done>((resume) => {
      if (deadlines !== undefined && total === undefined) {
        total = setTimeout(() => expire("total", deadlines.totalMs), timerMs(deadlines.totalMs))
        total.unref()
      }
      const attempt = () => {
        const chunks: Array<string> = []
        for (let chunk = body.read() as string | null; chunk !== null; chunk = body.read() as string | null) {
          const end = Math.max(chunk.lastIndexOf("\n\n"), chunk.lastIndexOf("\n\r\n"))
          sinceEvent = end < 0 ? sinceEvent + chunk.length : chunk.length - end
          if (sinceEvent > MAX_UPSTREAM_EVENT_CHARS) {
            failure = tooLarge("stream event", MAX_UPSTREAM_EVENT_CHARS)
            body.destroy()
            return resume(Effect.fail(failure))
          }
          chunks.push(chunk)
        }
        if (chunks.length > 0) return resume(Effect.succeed(chunks))
        if (failure !== undefined) return resume(Effect.fail(failure))
        if (ended) return resume(Cause.done())
        waiting = attempt
        waitingSince = performance.now()
        if (watchdog === undefined) checkIdle()
      }
      attempt()
      return Effect.sync(() => void (waiting = undefined))
    })
  }) as Effect.Effect<any>) as Stream.Stream<string, ProviderError>

/** Retry-After (seconds or an HTTP date) in milliseconds, when present. */
export const retryAfterMs = (headers: http.IncomingHttpHeaders): number | undefined => {
  const ms = headers["retry-after-ms"]
  if (typeof ms === "string" && Number.isFinite(Number(ms))) return Number(ms)
  const value = headers["retry-after"]
  if (typeof value !== "string") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return seconds * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}
