import OpenAI from "openai"
import { afterAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"

// `inferline serve` with a KV cache that takes the main memory's room: the weights go to a weight memory
// (as a model over 4 GiB's do, arena.ts) and the server answers exactly as with the default layout.
const started: Array<ServeProcess> = []
afterAll(async () => {
  for (const s of started) s.child.kill("SIGTERM")
  await Promise.all(started.map((s) => s.exited))
})

const complete = async (args: ReadonlyArray<string>) => {
  const serve = spawnServe(["--port", "0", ...args])
  started.push(serve)
  const client = new OpenAI({ baseURL: `${await servedUrl(serve, 120_000)}/v1`, apiKey: "unused" })
  const r = await client.completions.create({ model: "inferline-kjv", prompt: "In the beginning God created", max_tokens: 24, temperature: 0 })
  return { text: r.choices[0].text, log: serve.output() }
}

describe("weight memories through the CLI", () => {
  it("--kv-cache-memory 3.5GiB moves the weights out of the main memory; the completion is the same", async () => {
    const [plain, spilled] = await Promise.all([complete([]), complete(["--kv-cache-memory", "3.5GiB"])])
    expect(plain.log).not.toMatch(/weight memor/)
    expect(spilled.log).toMatch(/GiB of them in 1 weight memory beside the main one/)
    expect(spilled.text.length).toBeGreaterThan(20)
    expect(spilled.text).toBe(plain.text)
  }, 180_000)
})
