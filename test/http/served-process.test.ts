import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { otlpReceiver } from "../observability/support/otlp-receiver.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "./support/server.ts"
import { randomConfig, randomWeights, rawConfig } from "../support/random-model.ts"
import { hfTensors, writeCheckpoint } from "../support/write-checkpoint.ts"

/**
 * `inferline serve` as a user runs it (the real CLI process, the documented environment variables and
 * config file), for what only shows there: OTLP export configured the OpenTelemetry way, the ledger's
 * cached tokens, config typos, and what a client and the log learn about an upstream failure.
 */

const MASTER = "sk-master-served-process"
const auth = { authorization: `Bearer ${MASTER}` }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-served-"))

const writeConfig = (name: string, yaml: string) => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, yaml)
  return file
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...auth, ...headers }, body: JSON.stringify(body) })
    .then(async (r) => ({ status: r.status, headers: r.headers, json: (await r.json()) as any }))

/** A port nothing listens on: a deployment there is unreachable. */
const closedPort = async () => {
  const net = await import("node:net")
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

describe("inferline serve, as a process", () => {
  // One server for the checks below: OTLP to an in-process receiver by the standard variable only, a
  // router config with an unreachable deployment, keys on, the ledger in its embedded database.
  let serve: ServeProcess
  let url: string
  let port: number
  let receiver: { readonly url: string; readonly spans: ReadonlyArray<{ readonly name: string }> }
  let closeReceiver: () => Promise<void>
  beforeAll(async () => {
    const scope = Effect.runSync(Scope.make())
    receiver = await Effect.runPromise(Scope.provide(otlpReceiver, scope))
    closeReceiver = () => Effect.runPromise(Scope.close(scope, Exit.void))
    port = await closedPort()
    const config = writeConfig("router.yaml", [
      "model_list:",
      `  - model_name: broken`,
      `    litellm_params: { model: openai/x, api_base: "http://127.0.0.1:${port}/v1" }`,
      "    model_info: { id: broken-upstream }",
      "router_settings: { num_retries: 0 }",
      "litellm_settings: { drop_params: true }"
    ].join("\n"))
    serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "served", "--config", config], {
      INFERLINE_MASTER_KEY: MASTER,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: "50",
      INFERLINE_LEDGER_FLUSH_MS: "50",
      DATABASE_URL: undefined
    })
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
    await closeReceiver()
  })

  const prompt = "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness."
  const chat = { model: "served", messages: [{ role: "user", content: prompt }], max_tokens: 3, temperature: 0 }

  it("exports traces with only OTEL_EXPORTER_OTLP_ENDPOINT set (OpenTelemetry's default exporter is otlp)", async () => {
    expect((await post(`${url}/v1/chat/completions`, chat)).status).toBe(200)
    await waitFor("the request's span at the receiver", () => receiver.spans.some((s) => s.name === "chat served"), 5_000).catch(() => undefined)
    expect(receiver.spans.map((s) => s.name)).toContain("chat served")
  })

  it("records the prefix-cache hits of the served model in the ledger, as the response reports them", async () => {
    await post(`${url}/v1/chat/completions`, chat)
    const second = await post(`${url}/v1/chat/completions`, chat, { "x-request-id": "served-second" })
    const cached = second.json.usage.prompt_tokens_details.cached_tokens
    expect(cached).toBeGreaterThan(0)
    let row: any
    await waitFor("the second request's ledger row", async () => {
      const logs = await fetch(`${url}/spend/logs?model=served&limit=20`, { headers: auth }).then((r) => r.json() as Promise<any>)
      // The client's x-request-id is the row's correlation id (the server made its key).
      row = logs.data.find((r: any) => r.client_request_id === "served-second")
      return row !== undefined
    })
    expect(row.input_tokens).toBe(second.json.usage.prompt_tokens)
    expect(row.cached_input_tokens).toBe(cached)
  })

  it("answers an upstream failure with the deployment and the request id, never its address; the log has the details", async () => {
    const failed = await post(`${url}/v1/chat/completions`, { model: "broken", messages: [{ role: "user", content: "hi" }] })
    expect(failed.status).toBe(502)
    const requestId = failed.headers.get("x-request-id")!
    expect(failed.json.error.message).toContain("broken-upstream")
    expect(failed.json.error.message).toContain(requestId)
    expect(failed.json.error.message).not.toContain("127.0.0.1")
    expect(failed.json.error.message).not.toContain(String(port))
    expect(failed.json.error.message).not.toMatch(/ECONNREFUSED/)
    await waitFor("the failed attempt in the log", () => serve.output().includes(`127.0.0.1:${port}`)).catch(() => undefined)
    expect(serve.output()).toMatch(new RegExp(`router: attempt 1 on deployment broken-upstream .*connection.*127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*${requestId}`))
  })

  it("warns at startup about the LiteLLM settings it accepts without acting on them", () => {
    expect(serve.output()).toMatch(/LiteLLM settings Inferline does not act on, ignored: litellm_settings\.drop_params/)
  })

  it("logs a refused key and gives the 401 its request id", async () => {
    const refused = await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer sk-wrong", "x-request-id": "refused-1" } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("x-request-id")).toBe("refused-1")
    // The log line's annotations: the server's request_id and the client's client_request_id.
    const logged = /auth: refused \/v1\/models: invalid_api_key[^\n]*\{[^}]*client_request_id: 'refused-1'/
    await waitFor("the refusal in the log", () => logged.test(serve.output()), 3_000).catch(() => undefined)
    expect(serve.output()).toMatch(logged)
  })
})

describe("inferline serve, config errors", () => {
  it("a typo in the router config stops startup with the path and what was meant (exit 2)", async () => {
    const cases: Array<[string, RegExp]> = [
      ["model_list: [{ model_name: a, litellm_params: { model: openai/a, api_bse: 'http://127.0.0.1:9/v1' } }]", /model_list\[0\]\.litellm_params\.api_bse: unknown key; did you mean "api_base"\?/],
      ["router_settings: { routing_stratgy: least-busy }", /router_settings\.routing_stratgy: unknown key; did you mean "routing_strategy"\?/],
      ["model_list: [{ model_name: a, litellm_params: { model: openai/a, api_base: 'http://127.0.0.1:9/v1' } }]\nlitellm_settings: { fallbacks: [{ a: [claud] }] }", /fallbacks of a: no model group named claud/]
    ]
    for (const [i, [yaml, message]] of cases.entries()) {
      const serve = spawnServe([testModelDir(), "--port", "0", "--config", writeConfig(`typo-${i}.yaml`, yaml)])
      expect(await serve.exited, serve.output()).toBe(2)
      expect(serve.output()).toMatch(message)
      expect(serve.output()).not.toContain("Loading model")
    }
  }, 60_000)
})

describe("inferline serve, weights it cannot serve", () => {
  it("--dtype float16 on a checkpoint with a value past float16's range: the tensor named, no server", async () => {
    const raw = rawConfig()
    const tensors = hfTensors(randomWeights(randomConfig(), 3), raw).map((t) => (t.name === "model.layers.0.mlp.up_proj.weight" ? { ...t, data: Float32Array.from(t.data, (x, i) => (i === 3 ? 1e6 : x)) } : t))
    const dir = writeCheckpoint(raw, tensors)
    const serve = spawnServe([dir, "--port", "0", "--dtype", "float16"])
    expect(await serve.exited, serve.output()).toBe(1)
    expect(serve.output()).toContain(`inferline: could not start: ${dir}: tensor "model.layers.0.mlp.up_proj.weight" holds an infinite value at element 3 as float16`)
    expect(serve.output()).not.toContain("Serving model")
  }, 60_000)
})
