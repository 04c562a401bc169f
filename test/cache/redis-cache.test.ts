import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { metricValue, scrapeMetrics, testModelDir } from "../http/support/server.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { freePort } from "../support/free-port.ts"

/**
 * The response cache in Redis (`cache: { type: redis }` with REDIS_URL): two instances share entries;
 * with Redis gone, requests still succeed without the cache (logged, counted). A Redis of the test's
 * own on a free port, stopped by PID.
 */
const MASTER = "sk-master-redis-cache"


const post = async (url: string, content: string) => {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` },
    body: JSON.stringify({ model: "remote", messages: [{ role: "user", content }], temperature: 0 })
  })
  return { status: r.status, cache: r.headers.get("x-inferline-cache"), json: (await r.json()) as any }
}

describe("the response cache in Redis", () => {
  let redis: ChildProcess
  let upstream: FakeUpstream
  let a: ServeProcess, b: ServeProcess
  let urlA: string, urlB: string
  beforeAll(async () => {
    const port = await freePort()
    redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" })
    await waitFor("redis", () => new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.end(), resolve(true)))
      socket.on("error", () => resolve(false))
    }))
    upstream = await startFakeUpstream([{ type: "json", content: "shared answer" }])
    const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "redis-cache-")), "router.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      `cache: { type: redis, ttl: 60, namespace: test-${process.pid} }`
    ].join("\n"))
    const start = () => spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_URL: undefined })
    ;[a, b] = [start(), start()]
    ;[urlA, urlB] = await Promise.all([servedUrl(a), servedUrl(b)])
  }, 90_000)
  afterAll(async () => {
    for (const s of [a, b]) s.child.kill("SIGTERM")
    await Promise.all([a.exited, b.exited])
    redis.kill("SIGKILL")
    await upstream.close()
  })

  it("an answer stored by one instance is a hit on the other", async () => {
    expect((await post(urlA, "Shared question")).cache).toBe("miss")
    const hit = await post(urlB, "Shared question")
    expect([hit.status, hit.cache]).toEqual([200, "hit"])
    expect(hit.json.choices[0].message.content).toBe("shared answer")
    expect(upstream.requests).toHaveLength(1)
  })

  it("with Redis gone, requests still succeed without the cache: logged and counted", async () => {
    redis.kill("SIGKILL")
    await new Promise<void>((resolve) => redis.once("exit", () => resolve()))
    const before = upstream.requests.length
    const started = performance.now()
    const r = await post(urlA, "Shared question")
    expect([r.status, r.cache]).toEqual([200, "miss"])
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(upstream.requests.length).toBe(before + 1)
    await waitFor("the warning", () => a.output().includes("response cache: get failed, going on without the cache"))
    expect(metricValue(await scrapeMetrics(urlA, MASTER), "inferline_response_cache_errors_total", { operation: "get" })).toBeGreaterThan(0)
  })
})
