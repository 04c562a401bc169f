import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe } from "../support/cli-process.ts"

/**
 * Graceful drain on SIGTERM, through the real CLI (gateway only): the listener closes at once, streams
 * in flight go on for up to --shutdown-grace seconds, then are cut, and the process exits 0.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-drain-"))
let upstream: FakeUpstream
let config: string

beforeAll(async () => {
  upstream = await startFakeUpstream([{ type: "stream" }])
  config = path.join(tmp, "router.yaml")
  fs.writeFileSync(config, `model_list:\n  - { model_name: remote, litellm_params: { model: openai/m, api_base: "${upstream.url}/v1", api_key: k } }\n`)
})
afterAll(async () => {
  await upstream.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const streamChat = async (url: string) => {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "remote", stream: true, messages: [{ role: "user", content: "hi" }] }) })
  const reader = r.body!.getReader()
  const first = await reader.read()
  let text = new TextDecoder().decode(first.value)
  const rest = (async () => {
    try {
      for (let c = await reader.read(); !c.done; c = await reader.read()) text += new TextDecoder().decode(c.value)
      return { text, cut: false }
    } catch {
      return { text, cut: true }
    }
  })()
  return rest
}

const connects = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname, port: Number(port) }, () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
  })

describe("SIGTERM drains", () => {
  it("a stream in flight finishes within the grace period while new connections are refused; exit 0", async () => {
    upstream.reset([{ type: "stream", chunks: Array.from({ length: 8 }, (_, i) => `part${i} `), delayMs: 250 }])
    const serve = spawnServe(["--config", config, "--no-model", "--port", "0", "--shutdown-grace", "10"])
    const url = await servedUrl(serve)
    const inFlight = streamChat(url)
    await new Promise((r) => setTimeout(r, 300))
    const signalled = performance.now()
    serve.child.kill("SIGTERM")
    await new Promise((r) => setTimeout(r, 300))
    expect(await connects(url)).toBe(false)
    const result = await inFlight
    expect(result.cut).toBe(false)
    expect(result.text).toContain("part7")
    expect(result.text).toContain("data: [DONE]")
    expect(await serve.exited).toBe(0)
    console.log(`exit ${((performance.now() - signalled) / 1000).toFixed(2)} s after SIGTERM`)
    // It exits once the stream is done (about 1.7 s left of it), not at the end of the grace period, and
    // without waiting for the client's keep-alive timeout.
    expect((performance.now() - signalled) / 1000).toBeLessThan(4)
    expect(serve.output()).toContain("in-flight requests get up to 10 s")
  })

  it("a stream that outlasts the grace period is cancelled when it ends; exit 0", async () => {
    upstream.reset([{ type: "drip", intervalMs: 100 }])
    const serve = spawnServe(["--config", config, "--no-model", "--port", "0", "--shutdown-grace", "1"])
    const url = await servedUrl(serve)
    const inFlight = streamChat(url)
    await new Promise((r) => setTimeout(r, 300))
    const signalled = performance.now()
    serve.child.kill("SIGTERM")
    const result = await inFlight
    expect(await serve.exited).toBe(0)
    const seconds = (performance.now() - signalled) / 1000
    expect(seconds).toBeGreaterThan(0.9)
    expect(seconds).toBeLessThan(6)
    expect(result.text).not.toContain("[DONE]")
  })
})
