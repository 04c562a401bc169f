import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { parseRouterConfig } from "../../src/router/config.ts"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { chat, openAiDeployment, postChat, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

/**
 * LiteLLM settings a config brings along: deployment `order` and `max_parallel_requests`,
 * `default_fallbacks` (and the `"*"` fallback key), `model_group_alias`. One server, fresh scripts per test.
 */
describe("LiteLLM router settings", () => {
  let first: FakeUpstream, second: FakeUpstream, capped: FakeUpstream, spill: FakeUpstream, lonely: FakeUpstream, backup: FakeUpstream
  let server: RouterTestServer
  const all = () => [first, second, capped, spill, lonely, backup]
  beforeAll(async () => {
    ;[first, second, capped, spill, lonely, backup] = await Promise.all(Array.from({ length: 6 }, () => startFakeUpstream([{ type: "json" }])))
    server = await startRouterServer({
      model_list: [
        // Listed second-order first, so the order field and not the list decides.
        openAiDeployment("main", "second", second.url, { order: 2, weight: 1000 }),
        openAiDeployment("main", "first", first.url, { order: 1 }),
        openAiDeployment("capped", "cap", capped.url, { max_parallel_requests: 1, weight: 1000 }),
        openAiDeployment("capped", "spill", spill.url, { weight: 1 }),
        openAiDeployment("lonely", "lonely", lonely.url, { extra_headers: { "HTTP-Referer": "https://example.org", "x-team": "ml" } }),
        openAiDeployment("backup", "backup", backup.url)
      ],
      router_settings: {
        num_retries: 1, retry_after: 0.01, allowed_fails: 100,
        model_group_alias: { "gpt-4": "main", secret: { model: "backup", hidden: true } }
      },
      litellm_settings: { default_fallbacks: ["backup"] }
    })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all(all().map((u) => u.close()))
  })
  afterEach(() => {
    for (const u of all()) u.reset()
  })

  it("order: the lowest order serves; a retry goes to the next order", async () => {
    for (let i = 0; i < 5; i++) expect((await postChat(server.baseUrl, chat("main"))).headers.get("x-inferline-deployment")).toBe("first")
    expect(second.requests).toHaveLength(0)
    first.script = [{ type: "status", status: 500 }]
    const r = await postChat(server.baseUrl, chat("main"))
    expect(r.status).toBe(200)
    expect(r.headers.get("x-inferline-deployment")).toBe("second")
    expect(r.headers.get("x-inferline-attempts")).toBe("2")
  })

  it("max_parallel_requests: a deployment at its cap is skipped while its request runs", async () => {
    capped.script = [{ type: "hang" }]
    const held = new AbortController()
    const pending = postChat(server.baseUrl, chat("capped"), held.signal).catch(() => undefined)
    for (let i = 0; i < 100 && capped.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(capped.requests).toHaveLength(1)
    capped.script = [{ type: "json" }]
    // The cap weighs 1000x: without the cap these would go to it.
    for (let i = 0; i < 3; i++) expect((await postChat(server.baseUrl, chat("capped"))).headers.get("x-inferline-deployment")).toBe("spill")
    held.abort()
    await pending
    for (let i = 0; i < 100; i++) {
      if ((await postChat(server.baseUrl, chat("capped"))).headers.get("x-inferline-deployment") === "cap") return
    }
    expect.unreachable("the capped deployment never served again after its request ended")
  })

  it("default_fallbacks: a group without fallbacks of its own falls back to them", async () => {
    lonely.script = [{ type: "status", status: 500 }]
    const r = await postChat(server.baseUrl, chat("lonely"))
    expect(r.status).toBe(200)
    expect(r.headers.get("x-inferline-deployment")).toBe("backup")
    expect(lonely.requests).toHaveLength(2) // the group's own retry first
    // The fallback group itself does not fall back to itself.
    backup.script = [{ type: "status", status: 500 }]
    expect((await postChat(server.baseUrl, chat("backup"))).status).toBe(502) // the upstream's 500, as a gateway answers it
    expect(backup.requests).toHaveLength(3) // lonely's fallback above, then backup's two attempts
  })

  it("extra_headers go with every request to the deployment, next to its api_key", async () => {
    await postChat(server.baseUrl, chat("lonely"))
    expect(lonely.requests[0].headers).toMatchObject({ "http-referer": "https://example.org", "x-team": "ml", authorization: "Bearer sk-upstream" })
    await postChat(server.baseUrl, chat("backup"))
    expect(backup.requests[0].headers).not.toHaveProperty("x-team")
  })

  it("model_group_alias: an alias routes to its group; /v1/models lists it unless hidden", async () => {
    expect((await postChat(server.baseUrl, chat("gpt-4"))).headers.get("x-inferline-deployment")).toBe("first")
    expect((await postChat(server.baseUrl, chat("secret"))).headers.get("x-inferline-deployment")).toBe("backup")
    const models = await server.client.models.list()
    const ids = models.data.map((m) => m.id)
    expect(ids).toContain("gpt-4")
    expect(ids).not.toContain("secret")
    expect(models.data.find((m) => m.id === "gpt-4")).toMatchObject({ root: "main" })
  })
})

describe("retry_policy", () => {
  let u: FakeUpstream, server: RouterTestServer
  beforeAll(async () => {
    u = await startFakeUpstream([{ type: "json" }])
    server = await startRouterServer({
      model_list: [openAiDeployment("r", "u", u.url)],
      router_settings: {
        num_retries: 1, retry_after: 0.005, allowed_fails: 100,
        retry_policy: { RateLimitErrorRetries: 3, InternalServerErrorRetries: 0, BadRequestErrorRetries: 1 }
      }
    })
  })
  afterAll(async () => {
    await server.close()
    await u.close()
  })
  const attempts = async (script: FakeUpstream["script"]) => {
    u.reset(script)
    const r = await postChat(server.baseUrl, chat("r"))
    expect(Number(r.headers.get("x-inferline-attempts"))).toBe(u.requests.length)
    return [r.status, u.requests.length]
  }

  it("retries each kind of failure as many times as its policy says, else num_retries", async () => {
    expect(await attempts([{ type: "status", status: 429 }, { type: "status", status: 429 }, { type: "status", status: 429 }, { type: "json" }])).toEqual([200, 4])
    expect(await attempts([{ type: "status", status: 429 }])).toEqual([429, 4])
    // InternalServerErrorRetries covers every 5xx
    expect(await attempts([{ type: "status", status: 500 }])).toEqual([502, 1])
    expect(await attempts([{ type: "status", status: 503 }, { type: "json" }])).toEqual([502, 1])
    expect(await attempts([{ type: "status", status: 400 }, { type: "json" }])).toEqual([200, 2])
    // connection errors are not in the policy: num_retries (1)
    expect(await attempts([{ type: "drop" }, { type: "json" }])).toEqual([200, 2])
    expect(await attempts([{ type: "drop" }])).toEqual([502, 2])
  })
})

describe("timeouts", () => {
  it("litellm_settings.request_timeout is every deployment's default; router_settings and litellm_params win", () => {
    const deployments = parseRouterConfig({
      model_list: [
        { model_name: "a", litellm_params: { model: "openai/a" } },
        { model_name: "b", litellm_params: { model: "openai/b", timeout: 3 } }
      ],
      litellm_settings: { request_timeout: 20 }
    }).deployments
    expect(deployments.map((d) => [d.timeoutMs, d.streamTimeoutMs])).toEqual([[20_000, 20_000], [3_000, 3_000]])
    const withRouter = parseRouterConfig({ model_list: [{ model_name: "a", litellm_params: { model: "openai/a" } }], router_settings: { timeout: 7 }, litellm_settings: { request_timeout: 20 } })
    expect(withRouter.deployments[0].timeoutMs).toBe(7_000)
  })
})

describe("fallback lists", () => {
  it("the \"*\" key and default_fallbacks serve groups without their own list", () => {
    const config = parseRouterConfig({
      router_settings: { fallbacks: [{ a: ["b"] }, { "*": ["c"] }], default_fallbacks: ["d"] },
      litellm_settings: { default_fallbacks: ["e"] }
    })
    expect(config.settings.fallbacks.get("a")).toEqual(["b"])
    expect(config.settings.fallbacks.get("*")).toEqual(["c", "e", "d"])
  })
})
