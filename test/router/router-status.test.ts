import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { chat, openAiDeployment, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

const MASTER = "sk-status-master"

/** GET /router/deployments: what the router knows of each deployment, for the master key only. */
describe("router status", () => {
  let a: FakeUpstream, b: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    ;[a, b] = await Promise.all([startFakeUpstream([{ type: "json" }]), startFakeUpstream([{ type: "json" }])])
    server = await startRouterServer({
      model_list: [
        openAiDeployment("g", "a", a.url, { weight: 1_000_000, rpm: 600, max_parallel_requests: 8, order: 1, tags: ["fast"] }),
        openAiDeployment("g", "b", b.url, { weight: 1 })
      ],
      router_settings: { num_retries: 1, retry_after: 0, allowed_fails: 0, cooldown_time: 30 }
    }, { masterKey: MASTER })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([a.close(), b.close()])
  })
  const status = (token?: string) =>
    fetch(`${server.baseUrl}/router/deployments`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, json: await r.json() as any }))
  const post = () => fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(chat("g")) })

  it("shows health, cooldown, load and limits of each deployment, never the api key", async () => {
    expect((await post()).status).toBe(200)
    const before = await status(MASTER)
    expect(before.status).toBe(200)
    const [da, db] = ["a", "b"].map((id) => before.json.data.find((d: any) => d.id === id))
    expect(da).toMatchObject({ group: "g", provider: "openai", model: "a-model", api_base: `${a.url}/v1`, state: "closed", cooldown_until: null, in_flight: 0, requests_this_minute: 1, rpm: 600, max_parallel_requests: 8, order: 1, tags: ["fast"] })
    expect(da.latency_ms).toBeGreaterThan(0)
    expect(db).toMatchObject({ state: "closed", requests_this_minute: 0, latency_ms: null, rpm: null })
    expect(JSON.stringify(before.json)).not.toContain("sk-upstream")
    // One failure with allowed_fails 0: a goes into cooldown for 30 s, b serves.
    a.script = [{ type: "status", status: 500 }]
    expect((await post()).status).toBe(200)
    const during = (await status(MASTER)).json.data.find((d: any) => d.id === "a")
    expect(during.state).toBe("open")
    expect(Date.parse(during.cooldown_until) - Date.now()).toBeGreaterThan(25_000)
    // The same in Prometheus' terms, as LiteLLM's proxy exports it: state 2 is cooldown.
    const metrics = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${MASTER}` } }).then((r) => r.text())
    expect(metrics).toContain(`inferline_deployment_state{deployment="a",model_group="g",provider="openai"} 2`)
    expect(metrics).toContain(`inferline_deployment_state{deployment="b",model_group="g",provider="openai"} 0`)
    expect(metrics).toContain(`inferline_deployment_cooldowns_total{deployment="a",model_group="g",provider="openai"} 1`)
    expect(metrics).toContain(`inferline_deployment_requests_in_flight{deployment="b",model_group="g",provider="openai"} 0`)
    expect(metrics).toMatch(/inferline_deployment_latency_seconds\{deployment="a",model_group="g",provider="openai"\} 0\.\d+/)
  })

  it("is for the master key: no key is a 401, an API key a 403", async () => {
    expect((await status()).status).toBe(401)
    const admin = (route: string, body: object) =>
      fetch(`${server.baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(body) }).then((r) => r.json() as any)
    const team = await admin("/admin/teams", {})
    const { key } = await admin("/admin/keys", { team_id: team.id })
    expect(typeof key).toBe("string")
    expect((await status(key)).status).toBe(403)
  })
})
