import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { metricValue, scrapeMetrics, testModelDir } from "../http/support/server.ts"

/**
 * An overloaded engine, or a request too large for it, is the request's problem, not the served
 * model's: it must never put the local deployment in cooldown (which would turn every other client
 * away). Through the real CLI process, with a tiny engine: one running sequence, one waiting.
 */
const MASTER = "sk-master-overload"
const headers = { "content-type": "application/json", authorization: `Bearer ${MASTER}` }
const messages = [{ role: "user", content: "In the beginning" }]

const chat = (url: string, body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: "served", messages, ...body }), signal })

describe("overload never cools the served model down", () => {
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "served", "--max-num-seqs", "1", "--max-waiting-requests", "1", "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
  })

  it("a request larger than the engine's queue is a 400 naming the limit, however often it is sent", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await chat(url, { n: 128, max_tokens: 2 })
      expect(r.status).toBe(400)
      expect(((await r.json()) as any).error).toMatchObject({ code: "too_many_sequences", param: "n" })
    }
    expect((await chat(url, { max_tokens: 2 })).status).toBe(200)
  })

  it("503s while the engine is full leave the local deployment closed; honest requests go through once it has room", async () => {
    const hold = new AbortController()
    const long = { max_tokens: 1500, ignore_eos: true, stream: true }
    await chat(url, long, hold.signal).then((r) => r.body!.getReader().read())
    const waiting = chat(url, long, hold.signal).catch(() => undefined)
    for (let i = 0; i < 200 && (metricValue(await scrapeMetrics(url, MASTER), "inferline_num_requests_waiting", {}) ?? 0) < 1; i++) await new Promise((r) => setTimeout(r, 10))
    const refused = await Promise.all(Array.from({ length: 10 }, () => chat(url, { max_tokens: 2 })))
    expect(refused.map((r) => r.status)).toEqual(Array(10).fill(503))
    const deployments = (await fetch(`${url}/router/deployments`, { headers }).then((r) => r.json())) as any
    expect(deployments.data.find((d: any) => d.id === "local")).toMatchObject({ state: "closed" })
    hold.abort()
    await waiting
    const engineIdle = async () => {
      const m = await scrapeMetrics(url, MASTER)
      return metricValue(m, "inferline_num_requests_running", {}) === 0 && metricValue(m, "inferline_num_requests_waiting", {}) === 0
    }
    for (let i = 0; i < 200 && !(await engineIdle()); i++) await new Promise((r) => setTimeout(r, 10))
    const after = await chat(url, { max_tokens: 2 })
    expect(after.status).toBe(200)
  })
})
