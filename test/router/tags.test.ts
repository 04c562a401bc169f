import { Effect, Layer } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { Ledger } from "../../src/ledger/ledger.ts"
import { emptyPriceTable } from "../../src/ledger/price-table.ts"
import type { SpendRow } from "../../src/ledger/spend-row.ts"
import { requestObserverLayer } from "../../src/observability/request-observer.ts"
import { deploymentsForTags } from "../../src/router/tag-filter.ts"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { postJson } from "../http/support/server.ts"
import { chat, openAiDeployment, startRouterServer, type RouterTestServer } from "./support/router-server.ts"

const d = (id: string, tags: Array<string>) => ({ id, config: { tags } })
const ids = (xs: ReadonlyArray<{ readonly id: string }>) => xs.map((x) => x.id)

describe("tag filter", () => {
  const group = [d("free", ["free"]), d("paid", ["paid", "eu"]), d("std", ["default"]), d("plain", [])]
  it("tagged requests go to deployments with one of their tags, else to the default ones", () => {
    expect(ids(deploymentsForTags(group, ["paid"]))).toEqual(["paid"])
    expect(ids(deploymentsForTags(group, ["eu", "free"]))).toEqual(["free", "paid"])
    expect(ids(deploymentsForTags(group, ["other"]))).toEqual(["std"])
  })
  it("untagged requests go to the default deployments, or to all when there are none", () => {
    expect(ids(deploymentsForTags(group, []))).toEqual(["std"])
    const noDefault = [d("free", ["free"]), d("plain", [])]
    expect(ids(deploymentsForTags(noDefault, []))).toEqual(["free", "plain"])
    expect(ids(deploymentsForTags(noDefault, ["other"]))).toEqual([])
  })
})

describe("tag-based routing (router_settings.enable_tag_filtering)", () => {
  let free: FakeUpstream, paid: FakeUpstream, std: FakeUpstream, server: RouterTestServer
  const rows: Array<SpendRow> = []
  beforeAll(async () => {
    ;[free, paid, std] = await Promise.all([0, 1, 2].map(() => startFakeUpstream([{ type: "json" }])))
    const config = {
      model_list: [
        openAiDeployment("g", "free", free.url, { tags: ["free"] }),
        openAiDeployment("g", "paid", paid.url, { tags: ["paid"] }),
        openAiDeployment("g", "std", std.url, { tags: ["default"] }),
        openAiDeployment("only-tagged", "x", free.url, { tags: ["x"] })
      ],
      router_settings: { enable_tag_filtering: true }
    }
    const ledger = Layer.succeed(Ledger, { record: (row: SpendRow) => Effect.sync(() => void rows.push(row)), flush: Effect.void })
    server = await startRouterServer(config, { services: requestObserverLayer({ priceTable: emptyPriceTable }).pipe(Layer.provide(ledger)) })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([free.close(), paid.close(), std.close()])
  })
  afterEach(() => {
    for (const u of [free, paid, std]) u.reset()
    rows.length = 0
  })
  const post = (body: object, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })
      .then(async (r) => ({ status: r.status, deployment: r.headers.get("x-inferline-deployment"), json: await r.json() as any }))

  it("routes by the body's tags and the tag headers; upstreams never see `tags`; the ledger row keeps them", async () => {
    expect((await post(chat("g", { tags: ["paid"] }))).deployment).toBe("paid")
    expect((await post(chat("g"), { "x-inferline-tags": "free" })).deployment).toBe("free")
    expect(["free", "paid"]).toContain((await post(chat("g"), { "x-litellm-tags": " paid , free" })).deployment)
    expect((await post(chat("g"))).deployment).toBe("std")
    expect((await post(chat("g", { tags: ["other"] }))).deployment).toBe("std")
    for (const u of [free, paid, std]) for (const r of u.requests) expect(r.body).not.toHaveProperty("tags")
    await new Promise((r) => setTimeout(r, 20))
    expect(rows.map((r) => r.tags)).toEqual([["paid"], ["free"], ["paid", "free"], [], ["other"]])
  })

  it("a group where no deployment fits the tags answers 400 naming `tags`, calling no upstream", async () => {
    const r = await post(chat("only-tagged", { tags: ["y"] }))
    expect(r.status).toBe(400)
    expect(r.json.error).toMatchObject({ type: "invalid_request_error", param: "tags", code: "no_deployment_for_tags" })
    expect(free.requests).toHaveLength(0)
    // Without tags and with no `default` deployment, every deployment of the group serves.
    expect((await post(chat("only-tagged"))).deployment).toBe("x")
  })

  it("tags that are not an array of strings are a 400", async () => {
    for (const tags of ["paid", [1], [""], { a: 1 }, ["nul\u0000"], ["line\nbreak"], ["x".repeat(257)]]) {
      const r = await postJson(`${server.baseUrl}/v1/chat/completions`, chat("g", { tags }))
      expect(r.status).toBe(400)
      expect(r.json.error.param).toBe("tags")
    }
    expect(free.requests.length + paid.requests.length + std.requests.length).toBe(0)
  })
})

describe("tags of the caller's key and team", () => {
  const MASTER = "sk-tags-master"
  let tagged: FakeUpstream, other: FakeUpstream, server: RouterTestServer
  const rows: Array<SpendRow> = []
  beforeAll(async () => {
    ;[tagged, other] = await Promise.all([0, 1].map(() => startFakeUpstream([{ type: "json" }])))
    const config = {
      model_list: [openAiDeployment("g", "for-team", tagged.url, { tags: ["team-tag"] }), openAiDeployment("g", "other", other.url, { tags: ["default"] })],
      router_settings: { enable_tag_filtering: true }
    }
    const ledger = Layer.succeed(Ledger, { record: (row: SpendRow) => Effect.sync(() => void rows.push(row)), flush: Effect.void })
    server = await startRouterServer(config, { masterKey: MASTER, services: requestObserverLayer({ priceTable: emptyPriceTable }).pipe(Layer.provide(ledger)) })
  })
  afterAll(async () => {
    await server.close()
    await Promise.all([tagged.close(), other.close()])
  })
  const admin = (route: string, body: object) =>
    fetch(`${server.baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(body) }).then((r) => r.json() as any)
  const post = (key: string, body: object) =>
    fetch(`${server.baseUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify(body) })
      .then((r) => ({ status: r.status, deployment: r.headers.get("x-inferline-deployment") }))

  it("a key's and its team's metadata.tags go with every request: recorded, and routed by", async () => {
    const team = await admin("/admin/teams", { metadata: { tags: ["team-tag"] } })
    const { key } = await admin("/admin/keys", { team_id: team.id, metadata: { tags: ["key-tag", 7] } })
    const { key: plain } = await admin("/admin/keys", {})
    expect(await post(key, chat("g", { tags: ["req"] }))).toEqual({ status: 200, deployment: "for-team" })
    expect(await post(plain, chat("g"))).toEqual({ status: 200, deployment: "other" })
    await new Promise((r) => setTimeout(r, 20))
    expect(rows.map((r) => r.tags)).toEqual([["req", "key-tag", "team-tag"], []])
  })
})
