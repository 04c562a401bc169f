import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { INFERLINE_BIN, servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { bundledModelDir, testModelDir } from "../support/models.ts"

/** `inferline config check`, `--log-format json`, `--no-model` and `cors_allow_origins`, run as the README says. */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-config-"))
let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await startFakeUpstream([{ type: "json", content: "from upstream" }])
})
afterAll(async () => {
  await upstream.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const write = (name: string, text: string) => {
  const file = path.join(tmp, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

const check = (file: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [INFERLINE_BIN, "config", "check", file], { encoding: "utf8", env: { ...process.env, INFERLINE_MASTER_KEY: "", ...env } })

const routerYaml = () => write(`router-${Math.random().toString(36).slice(2)}.yaml`, [
  "model_list:",
  `  - { model_name: remote, litellm_params: { model: openai/upstream-model, api_base: "${upstream.url}/v1", api_key: sk-upstream-secret } }`
].join("\n"))

const stop = async (serve: ServeProcess) => {
  serve.child.kill("SIGTERM")
  return serve.exited
}

describe("inferline config check FILE", () => {
  it("prints the configuration serve would run: paths relative to the file, defaults filled in, secrets hidden", () => {
    // A model path relative to the file, in a directory of its own.
    const model = path.join(tmp, "conf", "models", "kjv")
    fs.mkdirSync(model, { recursive: true })
    for (const f of fs.readdirSync(testModelDir())) fs.copyFileSync(path.join(testModelDir(), f), path.join(model, f))
    const file = write("conf/inferline.yaml", `model: models/kjv\nmax_model_len: 256\nmaster_key: sk-master-check\n` + fs.readFileSync(routerYaml(), "utf8"))
    const r = check(file)
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const resolved = JSON.parse(r.stdout)
    expect(resolved).toMatchObject({
      model,
      "served-model-name": "kjv",
      "max-model-len": 256,
      "block-size": 16,
      "max-num-seqs": 128,
      "kv-cache-memory": 256 * 2 ** 20,
      host: "127.0.0.1",
      port: 8000,
      "log-format": "text",
      "master-key": "(set)",
      "cors-allow-origins": []
    })
    expect(resolved.model_list).toEqual([expect.objectContaining({ model_name: "remote", provider: "openai", api_key: "(set)" })])
    expect(r.stdout).not.toContain("sk-master-check")
    expect(r.stdout).not.toContain("sk-upstream-secret")
  })

  it("the model's own context length when the file does not set one", () => {
    const r = check(write("defaults.yaml", "port: 9001\n"))
    expect(r.status).toBe(0)
    const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, "config.json"), "utf8")) as { max_position_embeddings: number }
    expect(JSON.parse(r.stdout)).toMatchObject({ model: bundledModelDir, "max-model-len": config.max_position_embeddings, port: 9001 })
  })

  it("an invalid file: exit code 2 and the reason, naming the file and key", () => {
    const file = write("bad.yaml", "port: http\n")
    const r = check(file)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(`${file}: port: expected a port number`)
    const unknownModel = check(write("missing-model.yaml", "model: nowhere\n"))
    expect(unknownModel.status).toBe(2)
    expect(unknownModel.stderr).toContain(`model not found: ${path.join(tmp, "nowhere")}`)
  })
})

describe("--log-format json", () => {
  it("every line the server prints is one JSON object", async () => {
    const serve = spawnServe([testModelDir(), "--port", "0", "--log-format", "json"])
    const url = await servedUrl(serve)
    expect((await fetch(`${url}/health`)).status).toBe(200)
    await stop(serve)
    const lines = serve.output().trim().split("\n")
    expect(lines.length).toBeGreaterThan(3)
    for (const line of lines) {
      const entry = JSON.parse(line) as { message: unknown; level: string }
      expect(entry.level, line).toMatch(/^(INFO|WARN|ERROR|DEBUG)$/)
    }
    expect(serve.output()).toMatch(/"GET \/health 200/)
  })
})

describe("inferline serve --config router.yaml --no-model", () => {
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    serve = spawnServe(["--config", routerYaml(), "--no-model", "--port", "0"])
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(() => stop(serve))

  it("loads no model and routes to the remote deployments (OpenAI SDK)", async () => {
    expect(serve.output()).not.toContain("Loading model")
    expect(serve.output()).toContain("Serving model groups 'remote' (gateway only)")
    const client = new OpenAI({ apiKey: "unused", baseURL: `${url}/v1` })
    const ids = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toEqual(["remote"])
    const chat = await client.chat.completions.create({ model: "remote", messages: [{ role: "user", content: "hi" }] })
    expect(chat.choices[0].message.content).toBe("from upstream")
  })

  it("a request without a model, or for a model it does not route, is refused by name", async () => {
    const post = (body: unknown) => fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    const none = await post({ messages: [{ role: "user", content: "hi" }] })
    expect(none.status).toBe(400)
    expect(((await none.json()) as any).error).toMatchObject({ param: "model" })
    const unknown = await post({ model: "inferline-kjv", messages: [{ role: "user", content: "hi" }] })
    expect(unknown.status).toBe(404)
    const tokenize = await fetch(`${url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "hi" }) })
    expect(tokenize.status).toBe(404)
  })

  it("/metrics has the deployments and no engine gauges", async () => {
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toContain("inferline_deployment_state")
    expect(metrics).not.toContain("inferline_num_requests_running")
  })

  it("--no-model with a MODEL, or without a model_list, is a usage error", () => {
    const both = spawnSync(process.execPath, [INFERLINE_BIN, "serve", testModelDir(), "--no-model"], { encoding: "utf8" })
    expect(both.status).toBe(2)
    expect(both.stderr).toContain("--no-model and a MODEL")
    const empty = spawnSync(process.execPath, [INFERLINE_BIN, "serve", "--no-model"], { encoding: "utf8" })
    expect(empty.status).toBe(2)
    expect(empty.stderr).toContain("needs a --config with a model_list")
  })
})

describe("cors_allow_origins", () => {
  const MASTER = "sk-master-cors"
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    const file = write("cors.yaml", "cors_allow_origins: [https://app.example.com]\n" + fs.readFileSync(routerYaml(), "utf8"))
    serve = spawnServe(["--config", file, "--no-model", "--port", "0"], { INFERLINE_MASTER_KEY: MASTER })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(() => stop(serve))

  it("an allowed origin's preflight is answered without a key; its requests, refusals included, carry the CORS headers", async () => {
    const preflight = await fetch(`${url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST")
    expect(preflight.headers.get("access-control-allow-headers")).toBe("authorization, content-type")
    const body = JSON.stringify({ model: "remote", messages: [{ role: "user", content: "hi" }] })
    const ok = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { origin: "https://app.example.com", authorization: `Bearer ${MASTER}`, "content-type": "application/json" }, body })
    expect(ok.status).toBe(200)
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-inferline-request-id")
    const refused = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { origin: "https://app.example.com", "content-type": "application/json" }, body })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
  })

  it("another origin gets no CORS headers, and without cors_allow_origins nobody does", async () => {
    const other = await fetch(`${url}/health`, { headers: { origin: "https://evil.example.com" } })
    expect(other.headers.get("access-control-allow-origin")).toBeNull()
    const plain = spawnServe(["--config", routerYaml(), "--no-model", "--port", "0"])
    try {
      const plainUrl = await servedUrl(plain)
      const r = await fetch(`${plainUrl}/health`, { headers: { origin: "https://app.example.com" } })
      expect(r.headers.get("access-control-allow-origin")).toBeNull()
    } finally {
      await stop(plain)
    }
  })
})
