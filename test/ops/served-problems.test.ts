import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "../support/models.ts"

/**
 * Problems 3 and 5 of the operations issue, through the real CLI with a router config: what the
 * ledger says about who served (or failed) a request, what /v1/models lists for a restricted key, and
 * the 429 when a whole group is in cooldown.
 */
const MASTER = "sk-master-served-problems"
const admin = { "content-type": "application/json", authorization: `Bearer ${MASTER}` }

let serve: ServeProcess
let url: string
let good: FakeUpstream
let bad: FakeUpstream
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-served-problems-"))

beforeAll(async () => {
  good = await startFakeUpstream([{ type: "json" }])
  bad = await startFakeUpstream([{ type: "status", status: 500, body: { error: { message: "down" } } }])
  const config = path.join(tmp, "router.yaml")
  fs.writeFileSync(config, [
    "model_list:",
    `  - { model_name: remote, litellm_params: { model: openai/upstream-model, api_base: "${good.url}/v1", api_key: k } }`,
    `  - { model_name: broken, litellm_params: { model: openai/upstream-model, api_base: "${bad.url}/v1", api_key: k } }`,
    "router_settings: { allowed_fails: 0, cooldown_time: 30, num_retries: 0 }"
  ].join("\n"))
  serve = spawnServe([testModelDir(), "--config", config, "--port", "0", "--served-model-name", "served", "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, INFERLINE_LEDGER_FLUSH_MS: "20" })
  url = await servedUrl(serve)
}, 60_000)

afterAll(async () => {
  serve.child.kill("SIGTERM")
  await serve.exited
  await good.close()
  await bad.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

interface Row { readonly request_id: string; readonly deployment: string; readonly provider: string; readonly response_model: string | null; readonly first_token_time: string | null; readonly status: string }

const ledgerRow = async (requestId: string): Promise<Row> => {
  let row: Row | undefined
  await waitFor(`the ledger row of ${requestId}`, async () => {
    const r = await fetch(`${url}/spend/logs?request_id=${requestId}`, { headers: admin })
    row = ((await r.json()) as { data: Array<Row> }).data[0]
    return row !== undefined
  })
  return row!
}

const post = (body: Record<string, unknown>, key = MASTER) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { ...admin, authorization: `Bearer ${key}` }, body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 3, ...body }) })

describe("problem 3: ledger rows name who served, whoever it was", () => {
  it("a failed routed request names the deployment that failed, not the local engine", async () => {
    const r = await post({ model: "broken" })
    expect(r.status).toBe(502)
    const row = await ledgerRow(r.headers.get("x-inferline-request-id")!)
    expect(row).toMatchObject({ status: "error", deployment: "broken/0", provider: "openai" })
  })

  it("the local engine is provider `local` in the ledger, as in /metrics and /router/deployments", async () => {
    const r = await post({ model: "served" })
    expect(r.status).toBe(200)
    const row = await ledgerRow(r.headers.get("x-inferline-request-id")!)
    expect(row).toMatchObject({ deployment: "local", provider: "local", response_model: "served" })
    const deployments = await (await fetch(`${url}/router/deployments`, { headers: admin })).json() as { data: Array<{ id: string; provider: string }> }
    expect(deployments.data.find((d) => d.id === "local")?.provider).toBe(row.provider)
  })

  it("streamed rows carry the response model; whole responses their first-token time", async () => {
    good.reset([{ type: "stream" }])
    const streamed = await post({ model: "remote", stream: true })
    await streamed.text()
    const streamedRow = await ledgerRow(streamed.headers.get("x-inferline-request-id")!)
    expect(streamedRow).toMatchObject({ deployment: "remote/0", provider: "openai", response_model: "upstream-model" })
    const localStream = await post({ model: "served", stream: true })
    await localStream.text()
    expect((await ledgerRow(localStream.headers.get("x-inferline-request-id")!)).response_model).toBe("served")
    good.reset([{ type: "json" }])
    const whole = await post({ model: "remote" })
    expect(whole.status).toBe(200)
    const wholeRow = await ledgerRow(whole.headers.get("x-inferline-request-id")!)
    expect(wholeRow.first_token_time).not.toBeNull()
  })
})

describe("problem 5: /v1/models and cooldown 429s", () => {
  it("a key restricted to one model sees only that model in /v1/models (the OpenAI SDK)", async () => {
    const created = await fetch(`${url}/admin/keys`, { method: "POST", headers: admin, body: JSON.stringify({ name: "only-remote", models: ["remote"] }) })
    const { key } = (await created.json()) as { key: string }
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1` })
    const ids = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toEqual(["remote"])
    const all = new OpenAI({ apiKey: MASTER, baseURL: `${url}/v1` })
    const allIds = []
    for await (const m of all.models.list()) allIds.push(m.id)
    expect(allIds.sort()).toEqual(["broken", "remote", "served"])
  })

  it("every deployment of a group in cooldown: 429 with Retry-After until the cooldown ends", async () => {
    // The first test put `broken` in cooldown for 30 s (allowed_fails 0).
    const r = await post({ model: "broken" })
    expect(r.status).toBe(429)
    const retryAfter = Number(r.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(30)
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded")
  })
})
