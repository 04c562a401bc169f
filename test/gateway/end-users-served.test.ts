import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { testModelDir } from "../http/support/server.ts"
import { otlpReceiver, type ReceivedSpan } from "../observability/support/otlp-receiver.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"

/**
 * End users as a user runs them: two `inferline serve` instances sharing the machine's Postgres, an
 * end user made through the admin API of one with a budget, requests naming them with `user` or
 * x-inferline-user through both. The budget holds across the instances; a block reaches both within
 * a second. Instance A exports its spans to an OTLP receiver and posts budget alerts to a webhook in
 * Slack's format, as the README configures them.
 */
const MASTER = "sk-master-end-users"
const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const call = async (url: string, path: string, body: unknown, method = "POST", headers: Record<string, string> = {}) => {
  const r = await fetch(`${url}${path}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}`, ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: r.status, json: (await r.json()) as any }
}
const chat = (url: string, user: string | undefined, headers: Record<string, string> = {}) =>
  call(url, "/v1/chat/completions", { model: "remote", messages: [{ role: "user", content: "hi" }], ...(user !== undefined && { user }) }, "POST", headers)

describe("end users across two instances", () => {
  let upstream: FakeUpstream
  let a: ServeProcess, b: ServeProcess
  let urlA: string, urlB: string
  let receiver: { readonly url: string; readonly spans: ReadonlyArray<ReceivedSpan> }
  let closeReceiver: () => Promise<void>
  let webhook: http.Server
  const alerts: Array<any> = []
  const run = `${process.pid}-${Date.now()}`
  beforeAll(async () => {
    const scope = Effect.runSync(Scope.make())
    receiver = await Effect.runPromise(Scope.provide(otlpReceiver, scope))
    closeReceiver = () => Effect.runPromise(Scope.close(scope, Exit.void))
    webhook = http.createServer((req, res) => {
      let body = ""
      req.on("data", (c) => (body += c))
      req.on("end", () => {
        alerts.push(JSON.parse(body))
        res.end("ok")
      })
    })
    await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r))
    const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`
    // 1,000 prompt tokens of the fake's usage at 1,000 USD per million: 0.005 + 0.004 a request (5 in, 2 out).
    upstream = await startFakeUpstream([{ type: "json", content: "hello" }])
    const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "end-users-")), "router.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1", prices: { input: 1000, output: 2000 } } }`
    ].join("\n"))
    const start = (env: Record<string, string> = {}) =>
      spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], {
        INFERLINE_MASTER_KEY: MASTER,
        DATABASE_URL,
        INFERLINE_LEDGER_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "end-users-journal-")),
        ...env
      })
    a = start({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50", INFERLINE_BUDGET_WEBHOOK_URL: webhookUrl, INFERLINE_BUDGET_WEBHOOK_FORMAT: "slack" })
    urlA = await servedUrl(a)
    b = start()
    urlB = await servedUrl(b)
  }, 90_000)
  afterAll(async () => {
    for (const s of [a, b]) s.child.kill("SIGTERM")
    await Promise.all([a.exited, b.exited])
    await upstream.close()
    await closeReceiver()
    await new Promise<void>((r) => webhook.close(() => r()))
  })

  it("the end user and session are on the request's span, as OpenTelemetry and Langfuse name them", async () => {
    const user = `carol-${run}`
    const r = await call(urlA, "/v1/chat/completions", { model: "remote", messages: [{ role: "user", content: "hi" }], user }, "POST", { "x-inferline-session": `s-${run}` })
    expect(r.status).toBe(200)
    const find = () => receiver.spans.find((s) => s.attributes["user.id"] === user)
    await waitFor("the request's span at the receiver", () => find() !== undefined, 5000).catch(() => undefined)
    expect(find()?.attributes).toMatchObject({ "user.id": user, "session.id": `s-${run}`, "langfuse.user.id": user, "langfuse.session.id": `s-${run}` })
  })

  it("an end user's budget, spent through one instance, refuses them on the other", async () => {
    const user = `alice-${run}`
    const made = await call(urlA, "/admin/end_users", { user_id: user, max_budget: 0.02, budget_duration: "daily" })
    expect(made.status).toBe(201)
    expect(made.json).toMatchObject({ id: user, max_budget: 0.02, budget_duration: "daily", blocked: false })
    // 0.009 a request: the third (0.027 spent before the fourth) goes over.
    for (let i = 0; i < 3; i++) expect((await chat(i % 2 === 0 ? urlA : urlB, user)).status).toBe(200)
    const refused = await chat(urlB, user)
    expect(refused.status).toBe(400)
    expect(refused.json.error).toMatchObject({ code: "budget_exceeded", param: "user" })
    expect(refused.json.error.message).toContain(`The end user "${user}" has spent 0.027000 of their budget of 0.02`)
    // The header names the end user too (an application server sets it for all its calls).
    expect((await chat(urlA, undefined, { "x-inferline-user": user })).status).toBe(400)
    // Someone else is not affected; raising the budget lets them in again within a second, on both.
    expect((await chat(urlA, `bob-${run}`)).status).toBe(200)
    expect((await call(urlB, `/admin/end_users/${encodeURIComponent(user)}`, { max_budget: 1 }, "PATCH")).status).toBe(200)
    await waitFor("both instances to see the new budget", async () => (await chat(urlA, user)).status === 200 && (await chat(urlB, user)).status === 200, 3000)
    // The thresholds crossed on A were posted in Slack's incoming-webhook shape (B has no webhook set).
    await waitFor("the budget alerts at the webhook", () => alerts.some((a) => String(a.text).includes(user)), 3000).catch(() => undefined)
    const mine = alerts.filter((a) => String(a.text).includes(user))
    expect(mine.length).toBeGreaterThan(0)
    for (const alert of mine) {
      expect(Object.keys(alert)).toEqual(["text"])
      expect(alert.text).toMatch(/^Budget alert: /)
    }
  })

  it("a block reaches both instances within a second; bad ids are refused by name", async () => {
    const user = `mallory-${run}`
    expect((await chat(urlB, user)).status).toBe(200)
    expect((await call(urlA, "/admin/end_users", { user_id: user, blocked: true })).status).toBe(201)
    const started = Date.now()
    await waitFor("the block on B", async () => (await chat(urlB, user)).status === 403, 3000)
    expect(Date.now() - started).toBeLessThan(2000)
    const blocked = await chat(urlA, user)
    expect([blocked.status, blocked.json.error.code]).toEqual([403, "end_user_blocked"])
    const bad = await call(urlA, "/v1/chat/completions", { model: "remote", messages: [{ role: "user", content: "hi" }], user: 42 })
    expect([bad.status, bad.json.error.param]).toEqual([400, "user"])
    expect((await call(urlA, "/admin/end_users", { user_id: user, max_budgt: 1 })).json.error.message).toMatch(/max_budgt/)
    expect((await call(urlA, "/admin/end_users/nobody-at-all", undefined, "GET")).status).toBe(404)
  })
})
