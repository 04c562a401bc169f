import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { BUNDLED_MODEL_DIR, resolveServeConfig } from "../../src/cli.ts"
import { decideBind } from "../../src/gateway/bind-policy.ts"
import { emptyRouterConfig } from "../../src/router/config.ts"
import { testModelDir } from "./support/server.ts"

const bin = fileURLToPath(new URL("../../bin/inferline.js", import.meta.url))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const write = (name: string, text: string) => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, text)
  return file
}

const resolve = (args: Array<string>, env: Record<string, string> = {}) => {
  const config = resolveServeConfig(args, env, "/srv")
  if (config === "help") throw new Error("unexpected help")
  return config
}

describe("inferline serve: options", () => {
  it("defaults: the bundled model (next to the package), host left to the bind policy (loopback), port 8000, prefix caching left to the engine", () => {
    const c = resolve([])
    expect(c.modelDir).toBe(BUNDLED_MODEL_DIR)
    expect(BUNDLED_MODEL_DIR).toBe(fileURLToPath(new URL("../../models/inferline-kjv", import.meta.url)))
    expect(c.host).toBeUndefined()
    expect(decideBind({ host: c.host, masterKeyConfigured: false })).toMatchObject({ _tag: "Allowed", host: "127.0.0.1" })
    expect(c.masterKey).toBeUndefined()
    expect(c.publicMetrics).toBe(false)
    expect(c.port).toBe(8000)
    expect(c.engine.enablePrefixCaching).toBeUndefined()
    expect(c.maxRequestBodyBytes).toBe(2 * 2 ** 20)
    expect(c.headerTimeoutSeconds).toBe(10)
    expect(c.logRequests).toBe(true)
  })

  it("vLLM's flags", () => {
    const c = resolve([
      "models/x", "--host", "0.0.0.0", "--port=9000", "--served-model-name", "kjv", "--max-model-len", "512", "--block-size", "32",
      "--max-num-seqs", "8", "--max-num-batched-tokens", "1024", "--kv-cache-memory", "64MiB", "--no-enable-prefix-caching", "--scheduling-policy", "priority",
      "--dtype", "bfloat16", "--tensor-parallel-size", "2", "--max-request-body-size", "1MiB", "--disable-log-requests", "--master-key", "sk-master-123", "--public-metrics", "--header-timeout", "2.5"
    ])
    expect(c).toEqual({
      modelDir: "/srv/models/x",
      host: "0.0.0.0",
      port: 9000,
      engine: { servedModelName: "kjv", maxModelLen: 512, blockSize: 32, maxNumSeqs: 8, maxNumBatchedTokens: 1024, kvCacheMemoryBytes: 64 * 2 ** 20, enablePrefixCaching: false, schedulingPolicy: "priority", dtype: "bfloat16", tensorParallelSize: 2 },
      maxRequestBodyBytes: 2 ** 20,
      headerTimeoutSeconds: 2.5,
      logRequests: false,
      masterKey: "sk-master-123",
      publicMetrics: true,
      logFormat: "text",
      shutdownGraceSeconds: 5,
      corsAllowOrigins: [],
      router: emptyRouterConfig()
    })
  })

  it("a YAML or JSON config file, overridden by the environment, overridden by flags", () => {
    const yaml = write("serve.yaml", "model: ../models/demo\nport: 9001\nmax_model_len: 256\nkv-cache-memory: 32MiB\nenable-prefix-caching: false\n")
    const c = resolve(["--config", yaml])
    expect(c.modelDir).toBe(path.resolve(tmp, "../models/demo")) // relative to the config file
    expect(c.port).toBe(9001)
    expect(c.engine.maxModelLen).toBe(256)
    expect(c.engine.kvCacheMemoryBytes).toBe(32 * 2 ** 20)
    expect(c.engine.enablePrefixCaching).toBe(false)

    const json = write("serve.json", JSON.stringify({ port: 9002, "served-model-name": "from-file" }))
    const env = { INFERLINE_CONFIG: json, INFERLINE_PORT: "9003", INFERLINE_MODEL: "env-model" }
    expect(resolve([], env)).toMatchObject({ port: 9003, modelDir: "/srv/env-model", engine: { servedModelName: "from-file" } })
    expect(resolve(["--port", "9004", "cli-model"], env)).toMatchObject({ port: 9004, modelDir: "/srv/cli-model" })
  })

  it("a config file may carry LiteLLM's model_list and router settings next to the serve options", () => {
    const yaml = write("litellm.yaml", [
      "port: 9005",
      "model_list:",
      "  - model_name: gpt-small",
      "    litellm_params: { model: openai/small, api_base: http://127.0.0.1:9999/v1, api_key: os.environ/UPSTREAM_KEY }",
      "router_settings: { routing_strategy: least-busy, num_retries: 2 }",
      "litellm_settings: { fallbacks: [{ gpt-small: [inferline-kjv] }] }"
    ].join("\n"))
    const c = resolve(["--config", yaml], { UPSTREAM_KEY: "sk-up" })
    expect(c.port).toBe(9005)
    expect(JSON.stringify(c.router)).toContain("gpt-small")
    expect(JSON.stringify(c.router)).toContain("least-busy")
    const bad = write("bad-router.yaml", "model_list:\n  - model_name: x\n    litellm_params: { model: openai/x, api_base: not-a-url }\n")
    expect(() => resolve(["--config", bad])).toThrow(/model_list\[0\]\.litellm_params\.api_base/)
  })

  it("LiteLLM's general_settings.master_key turns keys on (--master-key wins); LiteLLM keys Inferline ignores are listed", () => {
    const yaml = write("litellm-general.yaml", [
      "general_settings: { master_key: os.environ/LITELLM_MASTER, alerting: [slack] }",
      "litellm_settings: { drop_params: true }"
    ].join("\n"))
    const c = resolve(["--config", yaml], { LITELLM_MASTER: "sk-from-litellm" })
    expect(c.masterKey).toBe("sk-from-litellm")
    expect(c.router.ignoredKeys).toEqual(["litellm_settings.drop_params", "general_settings.alerting"])
    expect(resolve(["--config", yaml, "--master-key", "sk-flag"], { LITELLM_MASTER: "sk-from-litellm" }).masterKey).toBe("sk-flag")
  })

  it("bad values name where they came from", () => {
    expect(() => resolve(["--port", "http"])).toThrow(/--port: expected a port number/)
    expect(() => resolve(["--kv-cache-memory", "lots"])).toThrow(/--kv-cache-memory: expected a size/)
    expect(() => resolve(["--max-num-seqs", "0"])).toThrow(/--max-num-seqs: expected a positive integer/)
    expect(() => resolve(["--header-timeout", "0"])).toThrow(/--header-timeout: expected a positive number of seconds/)
    expect(() => resolve(["--scheduling-policy", "lifo"])).toThrow(/--scheduling-policy: expected fcfs or priority/)
    expect(() => resolve(["--dtype", "half"])).toThrow(/--dtype: expected one of auto, float32, bfloat16, float16/)
    expect(resolve(["--dtype", "auto"]).engine.dtype).toBeUndefined()
    expect(() => resolve(["--bogus"])).toThrow(/Unknown option '--bogus'/)
    expect(() => resolve(["a", "b"])).toThrow(/at most one MODEL_DIR/)
    expect(() => resolve([], { INFERLINE_BLOCK_SIZE: "-1" })).toThrow(/INFERLINE_BLOCK_SIZE: expected a positive integer/)
    expect(() => resolve(["--config", write("typo.yaml", "max-model-length: 5\n")])).toThrow(/max-model-length: unknown option/)
    expect(() => resolve(["--config", write("bad.json", "{")])).toThrow(/not valid JSON/)
    expect(() => resolve(["--config", path.join(tmp, "missing.yaml")])).toThrow(/file not found/)
  })
})

describe("bin/inferline.js", () => {
  const run = (args: Array<string>, node = process.execPath) => spawnSync(node, [bin, ...args], { encoding: "utf8", timeout: 30_000 })

  it("bad flags: a clear message and exit code 2; --help: exit 0", () => {
    const bad = run(["serve", "--prot", "80"])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("Unknown option '--prot'")
    expect(bad.stderr).toContain("inferline serve --help")
    expect(run(["frobnicate"]).status).toBe(2)
    const help = run(["serve", "--help"])
    expect(help.status).toBe(0)
    for (const flag of ["--host", "--port", "--served-model-name", "--max-model-len", "--block-size", "--max-num-seqs", "--max-num-batched-tokens", "--kv-cache-memory", "--enable-prefix-caching", "--config"]) {
      expect(help.stdout).toContain(flag)
    }
  })

  it("on a Node older than 22.18 it re-runs itself with the pinned Node", () => {
    const old = ["/usr/bin/node", "/usr/local/bin/node"].find((n) => {
      if (!fs.existsSync(n)) return false
      const [major, minor] = spawnSync(n, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout.trim().split(".").map(Number)
      return major < 22 || (major === 22 && minor < 18)
    })
    if (old === undefined) return // no old Node on this machine
    const r = run(["--version"], old)
    expect(r.stderr).toBe("")
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    expect(r.status).toBe(0)
  })

  /** `inferline serve` as a child process, with its own embedded database and journal directories. */
  const serveChild = (args: Array<string>, env: Record<string, string> = {}) =>
    spawn(process.execPath, [bin, "serve", testModelDir(), "--port", "0", "--served-model-name", "cli-test", "--disable-log-requests", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        INFERLINE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-db-")),
        INFERLINE_LEDGER_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-ledger-")),
        ...env
      }
    })

  it("secure by default: without a master key it refuses to listen beyond loopback", async () => {
    const env = { ...process.env, INFERLINE_MASTER_KEY: "" }
    const child = serveChild(["--host", "0.0.0.0"], env)
    let err = ""
    child.stderr.on("data", (d) => (err += d))
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve))
    expect(code).toBe(1)
    expect(err).toContain("Refusing to listen on 0.0.0.0 without a master key")
  })

  it("serve: loads the model, prints the URL and model name, serves, stops cleanly on SIGTERM", async () => {
    const child = serveChild([], { INFERLINE_MASTER_KEY: "sk-master-cli-test" })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), 60_000)
      child.stdout.on("data", () => {
        const m = /Serving model 'cli-test' at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(m[1])
        }
      })
    })
    expect(out).toMatch(/Model ready in \d+\.\d+ s/)
    expect((await fetch(`${url}/health`)).status).toBe(200)
    // With a master key, keys are on: the model routes want one.
    expect((await fetch(`${url}/v1/models`)).status).toBe(401)
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer sk-master-cli-test" } })).status).toBe(200)
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(out).toContain("Stopped.")
  })
})
