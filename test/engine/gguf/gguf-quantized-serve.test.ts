import { spawnSync } from "node:child_process"
import OpenAI from "openai"
import { describe, expect, it } from "vitest"
import { loadModelDir, type LoadedModel } from "../../../src/engine/model-dir.ts"
import { INFERLINE_BIN, servedUrl, spawnServe } from "../../support/cli-process.ts"
import { convertToGguf } from "../../support/gguf.ts"
import { greedy } from "../../support/gguf-parity.ts"
import { bundledModelDir } from "../../support/models.ts"

const MASTER_KEY = "sk-master-quantized-test"
const CHAT = [{ role: "user" as const, content: "Quote John 3:16." }]

/** What the engine should answer: greedy on the chat-templated prompt, up to the first stop token. */
const expectedReply = (m: LoadedModel): string => {
  const prompt = m.tokenizer!.encode(m.tokenizer!.applyChatTemplate(CHAT))
  const tokens = greedy(m, prompt, 40)
  const stop = tokens.findIndex((t) => m.generation.eosTokenIds.includes(t))
  return m.tokenizer!.decode(stop < 0 ? tokens : tokens.slice(0, stop))
}

const serveAndAsk = async (args: ReadonlyArray<string>) => {
  const serve = spawnServe([...args, "--port", "0", "--disable-log-requests", "--tensor-parallel-size", "2"], { INFERLINE_MASTER_KEY: MASTER_KEY })
  try {
    const url = await servedUrl(serve, 90_000)
    const name = /Serving model '([^']+)'/.exec(serve.output())![1]
    const client = new OpenAI({ apiKey: MASTER_KEY, baseURL: `${url}/v1` })
    const r = await client.chat.completions.create({ model: name, messages: CHAT, temperature: 0, max_tokens: 40 })
    return { content: r.choices[0].message.content, output: serve.output() }
  } finally {
    serve.child.kill("SIGTERM")
    await serve.exited
  }
}

describe("serving quantized weights through the CLI", () => {
  it("serve model.q4_0.gguf: the blocks stay quantized (the log says so) and the reply is the in-process greedy one", async () => {
    const file = convertToGguf(bundledModelDir, "q4_0")
    const { content, output } = await serveAndAsk([file])
    expect(output).toContain("weights: q4_0+float32;") // the 688-wide down_proj is F16 in the file
    expect(content).toBe(expectedReply(loadModelDir(file)))
  }, 120_000)

  it("serve DIR --quantization q8_0: a safetensors checkpoint quantized at load, served over 2 threads", async () => {
    const { content, output } = await serveAndAsk([bundledModelDir, "--quantization", "q8_0"])
    expect(output).toContain("weights: q8_0+bfloat16;") // the 688-wide down_proj stays bf16
    expect(content).toBe(expectedReply(loadModelDir(bundledModelDir, { quantization: "q8_0" })))
  }, 120_000)

  it("an unknown --quantization value is a usage error listing the supported ones; a GGUF file refuses it by name", () => {
    const run = (args: ReadonlyArray<string>) => spawnSync(process.execPath, [INFERLINE_BIN, "serve", ...args], { encoding: "utf8", timeout: 60_000 })
    const unknown = run([bundledModelDir, "--quantization", "q5_0"])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain('--quantization: expected one of q8_0, q4_0, got "q5_0"')
    const file = convertToGguf(bundledModelDir, "q8_0")
    const gguf = run([file, "--quantization", "q8_0", "--port", "0"])
    expect(gguf.status).toBe(2)
    expect(gguf.stderr).toContain(`--quantization q8_0 applies to safetensors checkpoints; ${file} is a GGUF file, already quantized`)
  }, 120_000)
})
