import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { INFERLINE_BIN, servedUrl, spawnServe } from "../support/cli-process.ts"
import { repoRoot, testModelDir } from "../support/models.ts"
import { missingTestServices } from "../support/test-services.ts"

/**
 * What an operator meets starting `inferline serve` as the README says: the README's config example,
 * and failures that must show at once (before the embedded database and the model start) and name
 * their fix.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-startup-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")

/** The README's config example, as a user copies it. */
const readmeConfigExample = (): string => {
  const block = /```yaml\n(# inferline\.yaml[^\n]*\n[\s\S]*?)```/.exec(readme)
  if (block === null) throw new Error("the README has no inferline.yaml example")
  return block[1]
}

/** Runs `inferline serve ARGS` to its exit, returning the output and how long it took. */
const serveToExit = async (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) => {
  const started = performance.now()
  const serve = spawnServe(args, env)
  const code = await serve.exited
  return { code, output: serve.output(), seconds: (performance.now() - started) / 1000 }
}

describe("inferline serve: startup as the README tells it", () => {
  it("problem 1: the README's config example starts as written, saved outside the repository", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "elsewhere-"))
    const file = path.join(dir, "inferline.yaml")
    fs.writeFileSync(file, readmeConfigExample())
    // --port 0 only because port 8000 may be taken on a shared machine; the rest is the file's.
    const serve = spawnServe(["--config", file, "--port", "0"], { INFERLINE_MASTER_KEY: "" })
    try {
      const url = await servedUrl(serve)
      expect((await fetch(`${url}/health`)).status).toBe(200)
      const models = await (await fetch(`${url}/v1/models`)).json() as { data: Array<{ id: string; max_model_len: number }> }
      expect(models.data[0]).toMatchObject({ id: "kjv", max_model_len: 1024 })
    } finally {
      serve.child.kill("SIGTERM")
      await serve.exited
    }
  })

  it("problem 4: a model directory without tokenizer.json is announced before loading, saying what will be refused", async () => {
    const dir = path.join(tmp, "no-tokenizer")
    fs.mkdirSync(dir)
    for (const f of ["config.json", "generation_config.json", "model.safetensors"]) fs.copyFileSync(path.join(testModelDir(), f), path.join(dir, f))
    const serve = spawnServe([dir, "--port", "0"])
    try {
      const url = await servedUrl(serve)
      const out = serve.output()
      expect(out).toContain(`warning: ${path.join(dir, "tokenizer.json")} not found`)
      expect(out.indexOf("tokenizer.json not found")).toBeLessThan(out.indexOf("Loading model"))
      const chat = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "no-tokenizer", messages: [{ role: "user", content: "hi" }] }) })
      expect(chat.status).toBe(400)
      expect(((await chat.json()) as { error: { message: string } }).error.message).toContain("tokenizer.json")
    } finally {
      serve.child.kill("SIGTERM")
      await serve.exited
    }
  })

  it("problem 6: a port in use fails before the database starts and names --port", async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const r = await serveToExit(["--port", String(port)])
      expect(r.code).toBe(1)
      expect(r.output).toContain(`port ${port} on 127.0.0.1 is in use: choose another with --port PORT`)
      expect(r.output).not.toContain("Loading model")
      expect(r.seconds).toBeLessThan(5)
    } finally {
      blocker.close()
    }
  })

  it("problem 6: a data directory held by a running server fails at once and names INFERLINE_DATA_DIR", async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, "held-"))
    // This test process is alive: its pid in the lock file is what a running server leaves.
    fs.writeFileSync(path.join(dataDir, "inferline.lock"), String(process.pid))
    const r = await serveToExit(["--port", "0"], { INFERLINE_DATA_DIR: dataDir, DATABASE_URL: "" })
    expect(r.code).toBe(1)
    expect(r.output).toContain(`the data directory ${dataDir} is in use by process ${process.pid}`)
    expect(r.output).toContain("INFERLINE_DATA_DIR=DIR")
    expect(r.output).not.toContain("Loading model")
  })

  it("problem 6: a model the engine cannot run fails before the database starts", async () => {
    const dir = path.join(tmp, "gpt2")
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: ["GPT2LMHeadModel"], model_type: "gpt2" }))
    const r = await serveToExit([dir, "--port", "0"])
    expect(r.code).toBe(1)
    expect(r.output).toMatch(/GPT2LMHeadModel/)
    expect(r.output).not.toContain("Loading model")
  })

  it("problem 6: an unknown flag gets a suggestion", () => {
    const r = spawnSync(process.execPath, [INFERLINE_BIN, "serve", "--prot", "80"], { encoding: "utf8" })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("Unknown option '--prot'; did you mean '--port'?")
    const negated = spawnSync(process.execPath, [INFERLINE_BIN, "serve", "--no-enable-prefix-cache"], { encoding: "utf8" })
    expect(negated.stderr).toContain("did you mean '--no-enable-prefix-caching'?")
  })

  it("problem 6: npx on an older system Node prints no EBADENGINE warning (bin/inferline.js hands over to the pinned Node)", () => {
    const old = ["/usr/bin/node", "/usr/local/bin/node"].find((n) => {
      if (!fs.existsSync(n)) return false
      const [major, minor] = spawnSync(n, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout.trim().split(".").map(Number)
      return major < 22 || (major === 22 && minor < 18)
    })
    const npx = path.join(path.dirname(old ?? "/nonexistent"), "npx")
    if (old === undefined || !fs.existsSync(npx)) return // no older Node with npx on this machine
    const r = spawnSync(npx, ["--no-install", "inferline", "--version"], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, PATH: `${path.dirname(old)}:${process.env.PATH}` } })
    expect(r.stderr).not.toContain("EBADENGINE")
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it("problem 7: the suite names the PostgreSQL and Redis it needs, and the README says so", async () => {
    const message = await missingTestServices({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/test", REDIS_URL: "redis://127.0.0.1:1" }, 500)
    expect(message).toContain("PostgreSQL at postgres://postgres@127.0.0.1:1/test (set DATABASE_URL)")
    expect(message).toContain("Redis at redis://127.0.0.1:1 (set REDIS_URL)")
    expect(await missingTestServices(process.env)).toBeUndefined()
    expect(readme).toMatch(/`npm test` needs a PostgreSQL server at `DATABASE_URL`[\s\S]{0,200}Redis[\s\S]{0,40}`REDIS_URL`/)
  })
})
