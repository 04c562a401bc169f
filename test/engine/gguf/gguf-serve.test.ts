import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { convertToGguf, tempPath } from "../../support/gguf.ts"
import { greedy } from "../../support/gguf-parity.ts"
import { bundledModelDir } from "../../support/models.ts"

const bin = fileURLToPath(new URL("../../../bin/inferline.js", import.meta.url))
const MASTER_KEY = "sk-master-gguf-test"
const CHAT = [{ role: "user", content: "Quote John 3:16." }]

describe("inferline serve model.gguf", () => {
  it("serves a GGUF file end to end: name from the file, tokenizer, chat template and stop token from its metadata", async () => {
    const file = convertToGguf(bundledModelDir, "q8_0")
    const name = path.basename(file, ".gguf")
    // What the engine should answer: greedy on the chat-templated prompt, up to <|im_end|>.
    const m = loadModelDir(file)
    const prompt = m.tokenizer!.encode(m.tokenizer!.applyChatTemplate(CHAT))
    const tokens = greedy(m, prompt, 48)
    const stop = tokens.findIndex((t) => m.generation.eosTokenIds.includes(t))
    expect(stop).toBeGreaterThan(0)
    const expected = m.tokenizer!.decode(tokens.slice(0, stop))

    const child = spawn(process.execPath, [bin, "serve", file, "--port", "0", "--disable-log-requests"], {
      env: { ...process.env, INFERLINE_MASTER_KEY: MASTER_KEY, INFERLINE_DATA_DIR: tempPath("serve-data"), INFERLINE_LEDGER_DIR: tempPath("serve-ledger") },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), 90_000)
        const look = () => {
          const found = /Serving model '([^']+)' at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
          if (found) {
            clearTimeout(timer)
            resolve(found[2])
          }
        }
        child.stdout.on("data", look)
        child.on("exit", () => reject(new Error(`server exited:\n${out}`)))
      })
      expect(out).toContain(`Serving model '${name}'`)
      expect(out).toMatch(/Loading model .*\.gguf \(4\.\d MiB of weights\)/)
      const headers = { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" }
      const reply = await fetch(`${url}/v1/chat/completions`, {
        method: "POST", headers, body: JSON.stringify({ model: name, messages: CHAT, temperature: 0, max_tokens: 48 })
      })
      expect(reply.status).toBe(200)
      const body = (await reply.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }> }
      expect(body.choices[0].message.content).toBe(expected)
      expect(body.choices[0].finish_reason).toBe("stop")
    } finally {
      child.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
  })

  it("a path that is no model, or a directory with two GGUF files, is a usage error naming it", () => {
    const notModel = tempPath("notes.txt")
    fs.writeFileSync(notModel, "hello")
    const run = (target: string) => spawnSync(process.execPath, [bin, "serve", target], { encoding: "utf8", timeout: 30_000 })
    const r1 = run(notModel)
    expect(r1.status).toBe(2)
    expect(r1.stderr).toContain(`${notModel} is neither a GGUF file nor a directory with config.json`)
    const dir = tempPath("two-ggufs")
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, "a.gguf"), "")
    fs.writeFileSync(path.join(dir, "b.gguf"), "")
    const r2 = run(dir)
    expect(r2.status).toBe(2)
    expect(r2.stderr).toContain("holds 2 GGUF files (a.gguf, b.gguf); pass the one to serve")
  })
})
