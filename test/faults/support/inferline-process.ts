import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { testModelDir } from "../../support/models.ts"

/**
 * The `bin/inferline.js` the fault tests run: this checkout's, or another's with INFERLINE_BIN (how the
 * tests were run against `main` before the fixes).
 */
export const INFERLINE_BIN = process.env.INFERLINE_BIN ?? fileURLToPath(new URL("../../../bin/inferline.js", import.meta.url))

export const MASTER_KEY = "sk-faults-master"
export const MODEL = "faults-kjv"

/** The test runner's environment without anything that would point a server at shared services. */
const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("INFERLINE_") || k === "DATABASE_URL" || k === "REDIS_URL" || k.startsWith("OTEL_")) continue
    env[k] = v
  }
  return env
}

export interface InferlineProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly url: string
  /** Everything it printed so far (stdout and stderr, interleaved as read). */
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** SIGTERM, then waits for the exit (a clean shutdown flushes the ledger). */
  readonly stop: () => Promise<number | null>
  /** SIGKILL, waited for. */
  readonly kill: () => Promise<void>
}

export interface ServeOptions {
  readonly env?: Record<string, string>
  readonly args?: ReadonlyArray<string>
  /** Working directory (default: a fresh temp dir, so `./.inferline/` is the test's own). */
  readonly cwd?: string
  /** How long to wait for "Serving model ... at URL" (default 60 s). */
  readonly readyTimeoutMs?: number
}

/** Every server spawned here and still running: a test that fails half-way must not leave one behind. */
const spawned = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of spawned) child.kill("SIGKILL")
})

/** Spawns `inferline serve` on the bundled model; `ready` resolves with its URL once it prints it. */
export const spawnInferline = (options: ServeOptions = {}) => {
  const cwd = options.cwd ?? fs.mkdtempSync(path.join(os.tmpdir(), "inferline-faults-cwd-"))
  const child = spawn(process.execPath, [INFERLINE_BIN, "serve", testModelDir(), "--port", "0", "--served-model-name", MODEL, ...(options.args ?? [])], {
    cwd,
    env: { ...baseEnv(), INFERLINE_MASTER_KEY: MASTER_KEY, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  spawned.add(child)
  child.once("exit", () => spawned.delete(child))
  let out = ""
  child.stdout!.setEncoding("utf8")
  child.stderr!.setEncoding("utf8")
  child.stdout!.on("data", (d: string) => (out += d))
  child.stderr!.on("data", (d: string) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
  const ready = new Promise<InferlineProcess>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 60_000
    const timer = setTimeout(() => reject(new Error(`inferline printed no URL in ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const check = () => {
      const m = /Serving model '[^']+' at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      child.stdout!.off("data", check)
      resolve({
        child,
        pid: child.pid!,
        url: m[1],
        output: () => out,
        exited,
        stop: async () => {
          child.kill("SIGTERM")
          return (await exited).code
        },
        kill: async () => {
          child.kill("SIGKILL")
          await exited
        }
      })
    }
    child.stdout!.on("data", check)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`inferline exited (${code ?? signal}) before serving:\n${out}`))
    })
  })
  return { child, cwd, output: () => out, exited, ready }
}

/** Spawns `inferline serve` and waits until it serves. */
export const serveInferline = (options: ServeOptions = {}): Promise<InferlineProcess> => spawnInferline(options).ready

export const masterHeaders = { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" }

/** An admin or spend call with the master key; throws unless it answered 2xx. */
export const adminCall = async (url: string, method: string, route: string, body?: unknown): Promise<any> => {
  const res = await fetch(`${url}${route}`, { method, headers: masterHeaders, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`)
  return JSON.parse(text)
}

/** A key made through the admin API (with its team when `team` fields are given). */
export const createKey = async (url: string, fields: Record<string, unknown> = {}): Promise<{ readonly id: string; readonly key: string }> => {
  const created = await adminCall(url, "POST", "/admin/keys", { models: [], ...fields })
  return { id: created.id, key: created.key }
}

export interface Answer {
  readonly status: number
  readonly ms: number
  readonly headers: Headers
  readonly body: string
}

/** One /v1/completions request (a short token-free text prompt), timed; network errors become status 0. */
export const complete = async (url: string, key: string | undefined, extra: { readonly headers?: Record<string, string>; readonly body?: Record<string, unknown>; readonly timeoutMs?: number } = {}): Promise<Answer> => {
  const started = performance.now()
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...extra.headers },
      body: JSON.stringify({ model: MODEL, prompt: "And God said", max_tokens: 4, temperature: 0, ...extra.body }),
      signal: AbortSignal.timeout(extra.timeoutMs ?? 60_000)
    })
    const body = await res.text()
    return { status: res.status, ms: performance.now() - started, headers: res.headers, body }
  } catch (e) {
    return { status: 0, ms: performance.now() - started, headers: new Headers(), body: String(e) }
  }
}
