import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type Behaviour, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "../http/support/server.ts"

/**
 * Faulty upstreams against `inferline serve` as a process (issue 16, items 6, 8 and 10): an upstream
 * that hangs, resets, answers garbage, stalls or drips must never look like a success, must be retried
 * or fallen back from before the first byte, must end a started stream with an error event within its
 * deadline (closing the upstream's socket), and must not pass its raw text on to clients.
 */
const MASTER = "sk-master-faults"
const headers = { "content-type": "application/json", authorization: `Bearer ${MASTER}` }
const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra })

/** A chat request; a stream is read to its end (or its error event). */
const post = async (url: string, body: Record<string, unknown>) => {
  const started = performance.now()
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify(body) })
  const text = await r.text()
  const events = r.headers.get("content-type")?.startsWith("text/event-stream") ? text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6)) : []
  return { status: r.status, headers: r.headers, text, events, ms: performance.now() - started, json: events.length === 0 ? JSON.parse(text) : undefined }
}

describe("faulty upstreams", () => {
  let faulty: FakeUpstream, backup: FakeUpstream
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    ;[faulty, backup] = await Promise.all([startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json", content: "from backup" }])])
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "faults-"))
    const config = path.join(dir, "router.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: flaky, litellm_params: { model: openai/f, api_base: "${faulty.url}/v1", timeout: 2, stream_timeout: 1 }, model_info: { id: flaky-upstream } }`,
      `  - { model_name: alone, litellm_params: { model: openai/f, api_base: "${faulty.url}/v1", timeout: 2, stream_timeout: 1 }, model_info: { id: alone-upstream } }`,
      `  - { model_name: backup, litellm_params: { model: openai/b, api_base: "${backup.url}/v1" }, model_info: { id: backup-upstream } }`,
      "router_settings: { num_retries: 0, allowed_fails: 1000 }",
      "litellm_settings: { fallbacks: [{ flaky: [backup] }] }"
    ].join("\n"))
    serve = spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, INFERLINE_LEDGER_FLUSH_MS: "50", DATABASE_URL: undefined })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
    await Promise.all([faulty.close(), backup.close()])
  })

  /** The faulty upstream answers the next request with `behaviour`. */
  const next = (behaviour: Behaviour) => faulty.reset([behaviour])

  it("hang: abandoned after its timeout, then the fallback answers; alone, a 504", async () => {
    next({ type: "hang" })
    const fell = await post(url, chatBody("flaky"))
    expect(fell.status).toBe(200)
    expect(fell.json.choices[0].message.content).toBe("from backup")
    expect(fell.ms).toBeLessThan(4_000)
    await faulty.closed(0)
    next({ type: "hang" })
    const alone = await post(url, chatBody("alone"))
    expect(alone.status).toBe(504)
    expect(alone.json.error.code).toBe("timeout")
  })

  it("reset: the connection drops; a 502 naming the deployment, not its address", async () => {
    next({ type: "drop" })
    const r = await post(url, chatBody("alone"))
    expect(r.status).toBe(502)
    expect(r.json.error.message).toContain("alone-upstream")
    expect(r.json.error.message).not.toContain("127.0.0.1")
  })

  it("garbage: a stream request answered with JSON, null or plain text falls back before the first byte", async () => {
    backup.reset([{ type: "stream", chunks: ["from ", "backup"] }])
    for (const garbage of [
      { type: "raw", contentType: "application/json", body: JSON.stringify({ id: "x", choices: [] }) },
      { type: "raw", body: "null" },
      { type: "raw", body: "this is not server-sent events\n" }
    ] as const) {
      next(garbage)
      const r = await post(url, chatBody("flaky", { stream: true }))
      expect(r.status, JSON.stringify(garbage)).toBe(200)
      expect(r.headers.get("x-inferline-deployment")).toBe("backup-upstream")
      expect(r.events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? "").join("")).toBe("from backup")
      expect(r.events.at(-1)).toBe("[DONE]")
    }
  })

  it("garbage: a whole response of `null` is a 502, not a 500", async () => {
    next({ type: "raw", contentType: "application/json", body: "null" })
    const r = await post(url, chatBody("alone"))
    expect(r.status).toBe(502)
    expect(r.json.error.code).toBe("upstream_error")
  })

  it("cut short: a stream that ends without a finish reason or [DONE] ends with an error event, and its ledger row says error", async () => {
    const role = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "par" }, finish_reason: null }] })}\n\n`
    next({ type: "raw", body: [role] })
    const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { ...headers, "x-request-id": "cut-short-1" }, body: JSON.stringify(chatBody("alone", { stream: true })) })
    const text = await r.text()
    expect(r.status).toBe(200)
    expect(text).toContain('"error"')
    expect(text).toContain("without a finish reason")
    expect(text.trim().endsWith("data: [DONE]")).toBe(true)
    await waitFor("the ledger row", async () => {
      const logs = (await fetch(`${url}/spend/logs?model=alone&limit=50`, { headers }).then((x) => x.json())) as any
      const row = logs.data.find((x: any) => x.client_request_id === "cut-short-1") // the x-request-id sent
      return row !== undefined && row.status === "error"
    })
  })

  it("stall: silent after its first chunk past stream_timeout (1 s): an error event, and the upstream's socket closes", async () => {
    const first = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] })}\n\n`
    next({ type: "raw", body: [first], open: true })
    const r = await post(url, chatBody("alone", { stream: true }))
    expect(r.text).toContain("timed out: no next chunk within 1000 ms")
    expect(r.ms).toBeGreaterThan(900)
    expect(r.ms).toBeLessThan(3_000)
    await faulty.closed(0)
  })

  it("drip: a chunk every 200 ms forever is ended by the total timeout (2 s)", async () => {
    next({ type: "drip", intervalMs: 200 })
    const r = await post(url, chatBody("alone", { stream: true }))
    expect(r.text).toContain("no end of the stream within 2000 ms")
    expect(r.ms).toBeGreaterThan(1_900)
    expect(r.ms).toBeLessThan(4_000)
    await faulty.closed(0)
  })

  it("an upstream's HTML error page or control characters never reach the client; a malformed event is an error", async () => {
    next({ type: "raw", status: 400, contentType: "text/html", body: "<html><body><h1>Bad Request</h1><pre>Traceback (most recent call last):\n  File secret.py</pre></body></html>" })
    const html = await post(url, chatBody("alone"))
    expect(html.status).toBe(400)
    expect(html.json.error.message).toBe("The upstream answered 400.")
    next({ type: "status", status: 422, body: { error: { message: "bad\u0000value\u001b[31m " + "x".repeat(1000), code: "bad\u0000code" } } })
    const ctl = await post(url, chatBody("alone"))
    expect(ctl.status).toBe(422)
    expect(ctl.json.error.message).not.toMatch(/[\u0000-\u001f]/)
    expect(ctl.json.error.message.length).toBeLessThanOrEqual(300)
    expect(ctl.json.error.code).toBe("bad code")
    const bad = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a\u0000b"},"finish_reason":null}]}\n\n`
    next({ type: "raw", body: [bad, "data: [DONE]\n\n"] })
    const nul = await post(url, chatBody("alone", { stream: true }))
    expect(nul.text).not.toContain("\u0000")
    expect(nul.status).toBe(502)
    expect(nul.text).toContain("malformed stream event")
  })
})
