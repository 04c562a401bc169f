import { Effect, Fiber, ManagedRuntime, Stream } from "effect"
import { HttpServer } from "effect/http"
import { spawn } from "node:child_process"
import * as path from "node:path"
import OpenAI from "openai"
import { describe, expect, it } from "vitest"
import { appLayer } from "../../examples/mount-routes.ts"
import { bundledModelDir, defaultSamplingParams, Engine, engineLayer } from "../../src/index.ts"
import { repoRoot } from "../support/models.ts"

// The README's library examples run here, so they cannot rot.
const runExample = (args: Array<string>, interruptAfterOutput = false) =>
  new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, "examples/stream-completion.ts"), ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let sent = false
    child.stdout.on("data", (d) => {
      out += d
      // Past the banner line, the completion is streaming: interrupt it as Ctrl-C would.
      if (interruptAfterOutput && !sent && out.split("\n").length > 2 && out.length > 80) {
        sent = true
        child.kill("SIGINT")
      }
    })
    child.stderr.on("data", (d) => (out += d))
    child.on("exit", (code) => resolve({ code, out }))
  })

describe("examples", () => {
  it("1. stream-completion.ts streams a completion of the bundled model to stdout", async () => {
    const { code, out } = await runExample(["And the LORD said unto Moses,", "24"])
    expect(code).toBe(0)
    expect(out).toContain("[inferline-kjv] And the LORD said unto Moses,")
    expect(out).toContain("[done]")
  })

  it("1. ... and Ctrl-C interrupts it cleanly (the stream's scope closes, exit 130 as for any SIGINT)", async () => {
    const { code, out } = await runExample(["And God said,", "1800"], true)
    expect(out).toContain("[interrupted]")
    expect(out).not.toContain("[done]")
    expect(code).toBe(130)
  })

  it("2. mount-routes.ts serves the app's own route and Inferline's API on one server", async () => {
    const runtime = ManagedRuntime.make(appLayer(0))
    try {
      const address = await runtime.runPromise(Effect.gen(function*() {
        return (yield* HttpServer.HttpServer).address
      }))
      if (address._tag !== "InetAddressV4" && address._tag !== "InetAddressV6") throw new Error("expected TCP")
      const base = `http://127.0.0.1:${address.port}`
      expect(await (await fetch(`${base}/hello`)).json()).toEqual({ hello: "world" })
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 })
      const chat = await client.chat.completions.create({ model: "inferline-kjv", messages: [{ role: "user", content: "Quote Genesis 1:1." }], max_tokens: 8 })
      expect(chat.usage!.completion_tokens).toBeGreaterThan(0)
    } finally {
      await runtime.dispose()
    }
  })

  it("interrupting the embedding program's fiber aborts the engine request and frees its KV blocks", async () => {
    const program = Effect.gen(function*() {
      const engine = yield* Engine
      let received = 0
      const fiber = yield* engine.generate({
        promptTokenIds: engine.info.tokenizer!.encode("In the beginning"),
        params: defaultSamplingParams({ temperature: 0, maxTokens: 1500, ignoreEos: true })
      }).pipe(Stream.runForEach(() => Effect.sync(() => received++)), Effect.forkChild)
      while (received < 3) yield* Effect.sleep("5 millis")
      const busy = yield* engine.stats
      yield* Fiber.interrupt(fiber)
      let idle = yield* engine.stats
      for (let i = 0; i < 200 && (idle.kvCacheUsage > 0 || idle.numRequestsRunning > 0); i++) {
        yield* Effect.sleep("5 millis")
        idle = yield* engine.stats
      }
      return { busy, idle, received }
    })
    const { busy, idle, received } = await Effect.runPromise(program.pipe(Effect.provide(engineLayer({ modelDir: bundledModelDir }))))
    expect(busy.kvCacheUsage).toBeGreaterThan(0)
    expect(idle.kvCacheUsage).toBe(0)
    expect(idle.numRequestsRunning).toBe(0)
    expect(received).toBeLessThan(1500)
  })
})
