import type { IncomingHttpHeaders } from "node:http"
import { retryAfterMs } from "./upstream-http.ts"
import { ProviderError } from "./provider.ts"

const CONTEXT_WINDOW = /context[_ ]length|context window|maximum context|too many tokens|prompt is too long|input is too long|exceeds the (maximum|context)/i
const CONTENT_POLICY = /content[_ ]policy|content[_ ]filter|safety system|flagged/i

/** The longest upstream error message a client gets; the log keeps more. */
export const MAX_CLIENT_MESSAGE_CHARS = 300

/**
 * An upstream's words made fit for a client: control characters (a NUL breaks a ledger batch, an escape
 * sequence a terminal) become spaces, runs of whitespace one space, and the text is cut at
 * MAX_CLIENT_MESSAGE_CHARS. An HTML page (a proxy's error page, a traceback) is not passed on at all.
 */
export const clientSafeText = (text: string, otherwise: string): string => {
  const flat = text.replace(/[\u0000-\u001f\u007f]/g, " ").replace(/\s+/g, " ").trim()
  if (flat === "" || /^<(!doctype|html|head|body|\?xml)/i.test(flat)) return otherwise
  return flat.length > MAX_CLIENT_MESSAGE_CHARS ? `${flat.slice(0, MAX_CLIENT_MESSAGE_CHARS - 1)}…` : flat
}

/** The upstream's error message and code, from OpenAI's or Anthropic's error body (or the raw text). */
const errorFields = (text: string): { message: string; code: string | null; type: string | null } => {
  try {
    const json = JSON.parse(text) as { error?: { message?: unknown; code?: unknown; type?: unknown } | string; message?: unknown }
    const error = typeof json.error === "object" && json.error !== null ? json.error : undefined
    const message = error?.message ?? (typeof json.error === "string" ? json.error : json.message)
    return {
      message: typeof message === "string" ? message : text,
      code: typeof error?.code === "string" ? error.code : null,
      type: typeof error?.type === "string" ? error.type : null
    }
  } catch {
    return { message: text, code: null, type: null }
  }
}

/**
 * A non-2xx upstream response as a routing failure. 4xx errors caused by the request keep the
 * upstream's message, code and status so the client sees what the model said; 429, 408 and 5xx are
 * retryable; 401/403/404 are the deployment's configuration, not the request's. The upstream's own text
 * of a fault (an HTML page, a traceback) goes only to the log (`detail`).
 */
export const upstreamError = (deployment: string, status: number, headers: IncomingHttpHeaders, text: string): ProviderError => {
  const { message: raw, code: rawCode, type } = errorFields(text)
  const what = `${rawCode ?? ""} ${type ?? ""} ${raw}`
  // The log gets the upstream's text (bounded); the client a cleaned, short version of it.
  const detail = `Upstream ${deployment} answered ${status}: ${raw.slice(0, 2000)}`
  const message = clientSafeText(raw, `The upstream answered ${status}.`)
  const code = rawCode === null ? null : clientSafeText(rawCode, "").slice(0, 64) || null
  if (status === 429) return new ProviderError({ kind: "rate_limited", message: `Upstream ${deployment} is rate limited: ${message}`, detail, retryAfterMs: retryAfterMs(headers), deployment })
  if (status === 408 || status >= 500) {
    return new ProviderError({ kind: "server", message: `it answered ${status}.`, detail, retryAfterMs: retryAfterMs(headers), deployment })
  }
  if (status === 401 || status === 403 || status === 404) return new ProviderError({ kind: "deployment", message: `it refused the request with ${status}.`, detail, deployment })
  const kind = CONTEXT_WINDOW.test(what) ? "context_window" : CONTENT_POLICY.test(what) ? "content_policy" : "bad_request"
  return new ProviderError({ kind, message, detail, code, upstreamStatus: status >= 400 && status < 500 ? status : 400, deployment })
}
