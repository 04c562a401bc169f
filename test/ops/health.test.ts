import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "../support/models.ts"

/** /health/liveness and /health/readiness through the real CLI, keys on (probes send no key). */
const MASTER = "sk-master-health"
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-health-"))
let upstream: FakeUpstream
let serve: ServeProcess
let url: string

beforeAll(async () => {
  upstream = await startFakeUpstream([{ type: "status", status: 500, body: { error: { message: "down" } } }])
  const config = path.join(tmp, "router.yaml")
  fs.writeFileSync(config, [
    "model_list:",
    `  - { model_name: remote, litellm_params: { model: openai/m, api_base: "${upstream.url}/v1", api_key: k } }`,
    "router_settings: { allowed_fails: 0, cooldown_time: 30, num_retries: 0 }"
  ].join("\n"))
  serve = spawnServe([testModelDir(), "--config", config, "--port", "0", "--served-model-name", "served", "--disable-log-requests"], {
    INFERLINE_MASTER_KEY: MASTER,
    DATABASE_URL: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
    REDIS_URL: process.env.REDIS_URL || "redis://127.0.0.1:6379"
  })
  url = await servedUrl(serve)
}, 60_000)
afterAll(async () => {
  serve.child.kill("SIGTERM")
  await serve.exited
  await upstream.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

describe("health endpoints", () => {
  it("liveness: 200 without a key, with the event loop's lag", async () => {
    const r = await fetch(`${url}/health/liveness`)
    expect(r.status).toBe(200)
    const body = (await r.json()) as { status: string; uptime_seconds: number; event_loop_lag_ms: number }
    expect(body.status).toBe("ok")
    expect(body.event_loop_lag_ms).toBeGreaterThanOrEqual(0)
    expect(body.event_loop_lag_ms).toBeLessThan(1000)
  })

  it("readiness: the database, Redis, the model and every group's deployments; 503 naming the group once none is out of cooldown", async () => {
    const ready = await fetch(`${url}/health/readiness`)
    const body = (await ready.json()) as any
    expect(ready.status, JSON.stringify(body)).toBe(200)
    expect(body).toMatchObject({ status: "ready", checks: { database: { status: "ok" }, redis: { status: "ok" }, engine: { status: "ok", model: "served" }, deployments: { status: "ok" } } })
    // The only deployment of `remote` fails once: cooldown (allowed_fails 0), so the group cannot be served.
    const failed = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" }, body: JSON.stringify({ model: "remote", messages: [{ role: "user", content: "hi" }] }) })
    expect(failed.status).toBe(502)
    const notReady = await fetch(`${url}/health/readiness`)
    expect(notReady.status).toBe(503)
    const detail = (await notReady.json()) as any
    expect(detail.status).toBe("not_ready")
    expect(detail.checks.deployments.detail).toContain("remote")
    expect(detail.checks.database.status).toBe("ok")
  })
})

describe("background health checks (general_settings.background_health_checks)", () => {
  it("a dead upstream is put in cooldown by the health checks, before any request finds it", async () => {
    const dead = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (probe.address() as net.AddressInfo).port
        probe.close(() => resolve(port))
      })
    })
    const healthy = await startFakeUpstream([{ type: "json" }])
    const config = path.join(tmp, "checked.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: dead, litellm_params: { model: openai/m, api_base: "http://127.0.0.1:${dead}/v1", api_key: k } }`,
      `  - { model_name: alive, litellm_params: { model: openai/m, api_base: "${healthy.url}/v1", api_key: k } }`,
      "router_settings: { allowed_fails: 0, cooldown_time: 30 }",
      "general_settings: { background_health_checks: true, health_check_interval: 0.3 }"
    ].join("\n"))
    const checked = spawnServe(["--config", config, "--no-model", "--port", "0"])
    try {
      const checkedUrl = await servedUrl(checked)
      const states = async () => Object.fromEntries(((await (await fetch(`${checkedUrl}/router/deployments`)).json()) as { data: Array<{ group: string; state: string }> }).data.map((d) => [d.group, d.state]))
      await waitFor("the dead deployment's cooldown", async () => (await states()).dead === "open", 5000)
      expect((await states()).alive).toBe("closed")
      expect(healthy.requests.some((r) => r.path === "/v1/models")).toBe(true)
      expect(checked.output()).toMatch(/health check of deployment dead\/0 \(group dead\) failed: no connection/)
      expect((await fetch(`${checkedUrl}/health/readiness`)).status).toBe(503)
    } finally {
      checked.child.kill("SIGTERM")
      await checked.exited
      await healthy.close()
    }
  })
})
