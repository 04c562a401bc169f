import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "./support/server.ts"

/**
 * --tensor-parallel-size and --dtype as a user runs them: the same greedy requests, sent concurrently
 * (so they share steps) with the official openai SDK, to servers splitting each step over 1, 2 and 3
 * threads. The tokens and their log-probs must be identical: the split never changes an element's
 * arithmetic. The bundled checkpoint is BF16, so --dtype float32 (exact widening) must not change them either.
 */
const PROMPTS = ["In the beginning God created", "And the LORD said unto Moses,", "Blessed are the"]

describe("tensor parallel serving", () => {
  const servers: Record<string, { serve: ServeProcess; client: OpenAI }> = {}
  const variants: Record<string, Array<string>> = {
    tp1: ["--tensor-parallel-size", "1"],
    tp3: ["--tensor-parallel-size", "3"],
    tp2f32: ["--tensor-parallel-size", "2", "--dtype", "float32"]
  }
  beforeAll(async () => {
    await Promise.all(Object.entries(variants).map(async ([name, args]) => {
      const serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "kjv", ...args])
      const url = await servedUrl(serve)
      servers[name] = { serve, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused" }) }
    }))
  }, 120_000)
  afterAll(async () => {
    for (const s of Object.values(servers)) s.serve.child.kill("SIGTERM")
    await Promise.all(Object.values(servers).map((s) => s.serve.exited))
  })

  const answers = (name: string) =>
    Promise.all(PROMPTS.map((prompt) =>
      servers[name].client.completions.create({ model: "kjv", prompt, max_tokens: 24, temperature: 0, logprobs: 1 }).then((r) => ({
        text: r.choices[0].text,
        tokens: r.choices[0].logprobs!.tokens,
        logprobs: r.choices[0].logprobs!.token_logprobs
      }))))

  it("1, 2 and 3 threads (and --dtype float32 of a BF16 checkpoint) give the same tokens and log-probs", async () => {
    const one = await answers("tp1")
    expect(one.every((a) => a.tokens!.length === 24)).toBe(true)
    expect(new Set(one.map((a) => a.text)).size).toBe(PROMPTS.length)
    expect(await answers("tp3")).toEqual(one)
    expect(await answers("tp2f32")).toEqual(one)
  }, 120_000)

  it("the server reports the split in its startup log", () => {
    expect(servers.tp3.serve.output()).toMatch(/tensor parallel: 3 threads/)
    expect(servers.tp2f32.serve.output()).toMatch(/weights: float32/)
  })
})
