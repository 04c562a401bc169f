import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { metricValue, scrapeMetrics, testModelDir } from "../http/support/server.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"

/**
 * Real-time evaluation as a user runs it: `inferline serve --config` with an `evaluators:` list, a
 * routed group, an LLM judge group, Langfuse credentials pointing at a stand-in for its score API, and
 * an alert webhook in Slack's shape. Scores are made after the answer, off the request path.
 */
const MASTER = "sk-master-eval"

const post = async (url: string, body: Record<string, unknown>) => {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify(body) })
  const text = await r.text()
  return { status: r.status, requestId: r.headers.get("x-request-id")!, text }
}

const get = async (url: string, route: string) =>
  (await fetch(`${url}${route}`, { headers: { authorization: `Bearer ${MASTER}` } })).json() as Promise<any>

describe("real-time evaluation, served", () => {
  let upstream: FakeUpstream, judge: FakeUpstream, langfuse: FakeUpstream, webhook: FakeUpstream
  let serve: ServeProcess
  let url: string
  let start: () => ServeProcess
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "not json at all" }])
    judge = await startFakeUpstream([{ type: "json", content: '{"score": 0.25, "reason": "vague"}' }])
    langfuse = await startFakeUpstream([{ type: "json" }])
    webhook = await startFakeUpstream([{ type: "json" }])
    const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "eval-")), "router.yaml")
    fs.writeFileSync(config, [
      "model_list:",
      `  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }`,
      `  - { model_name: judge, litellm_params: { model: openai/j, api_base: "${judge.url}/v1" } }`,
      "evaluators:",
      `  - { name: is-json, type: json_valid, models: [remote], alert: { below: 0.5, window: 2, webhook_url: "${webhook.url}/hook", format: slack } }`,
      "  - { name: helpful, type: llm_judge, judge_model: judge, models: [remote] }"
    ].join("\n"))
    // The embedded database and the journals in directories of the test's, so a restart finds them.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-data-"))
    const ledgerDir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-journal-"))
    start = () =>
      spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], {
        INFERLINE_MASTER_KEY: MASTER,
        DATABASE_URL: undefined,
        INFERLINE_DATA_DIR: dataDir,
        INFERLINE_LEDGER_DIR: ledgerDir,
        LANGFUSE_PUBLIC_KEY: "pk-lf-test",
        LANGFUSE_SECRET_KEY: "sk-lf-test",
        LANGFUSE_BASE_URL: langfuse.url
      })
    serve = start()
    url = await servedUrl(serve)
  }, 60_000)
  afterAll(async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
    await Promise.all([upstream, judge, langfuse, webhook].map((u) => u.close()))
  })

  it("scores whole and streamed answers with rules and a judge, sends them to Langfuse, and alerts when the mean drops", async () => {
    const whole = await post(url, { model: "remote", messages: [{ role: "user", content: "Give me JSON" }] })
    upstream.reset([{ type: "stream", chunks: ['{"a"', ": 1}"] }])
    const streamed = await post(url, { model: "remote", messages: [{ role: "user", content: "Give me JSON" }], stream: true })
    expect([whole.status, streamed.status]).toEqual([200, 200])
    await waitFor("four scores in Langfuse", () => langfuse.requests.length >= 4)
    const scores = langfuse.requests.map((r) => ({ path: r.path, auth: r.headers.authorization, ...r.body }))
    const of = (requestId: string, name: string) => scores.find((s) => s.id === `${requestId}:${name}`)
    expect(of(whole.requestId, "is-json")).toMatchObject({ path: "/api/public/scores", name: "is-json", value: 0, dataType: "NUMERIC", auth: `Basic ${Buffer.from("pk-lf-test:sk-lf-test").toString("base64")}` })
    expect(of(streamed.requestId, "is-json")).toMatchObject({ value: 1, comment: "valid JSON" })
    expect(of(whole.requestId, "helpful")).toMatchObject({ value: 0.25, comment: "vague" })
    expect(of(whole.requestId, "is-json")!.traceId).toMatch(/^[0-9a-f]{32}$/)
    // The judge was asked with the question and the answer, under a strict schema.
    const asked = judge.requests[0].body
    expect(asked.messages[1].content).toContain("Give me JSON")
    expect(asked.messages[1].content).toContain("not json at all")
    expect(asked.response_format.json_schema.strict).toBe(true)
    // Window 2: [0, 1] has mean 0.5 (not below); one more bad answer makes it 0.5 -> [1, 0] ... then [0, 0].
    upstream.reset([{ type: "json", content: "still not json" }])
    await post(url, { model: "remote", messages: [{ role: "user", content: "again" }] })
    await post(url, { model: "remote", messages: [{ role: "user", content: "again" }] })
    await waitFor("the alert", () => webhook.requests.length >= 1)
    expect(webhook.requests[0].body).toEqual({ text: expect.stringMatching(/^Evaluation alert: is-json on remote averaged 0\.000 over the last 2 answers/) })
    const metrics = await scrapeMetrics(url, MASTER)
    expect(metricValue(metrics, "inferline_evaluation_scores_total", { evaluator: "is-json", model_group: "remote" })).toBe(4)
    expect(metricValue(metrics, "inferline_evaluation_alerts_total", { evaluator: "is-json" })).toBe(1)
    // Stored with the request id, and on the dashboard's score over time.
    await waitFor("the scores in the database", async () => (await get(url, `/evaluation/scores?request_id=${whole.requestId}`)).data?.length === 2)
    expect((await get(url, `/evaluation/scores?request_id=${whole.requestId}`)).data).toMatchObject([{ evaluator: "helpful", value: 0.25 }, { evaluator: "is-json", value: 0 }])
    const dashboard = await get(url, "/ui/data")
    expect(dashboard.evaluations).toContainEqual(expect.objectContaining({ model_group: "remote", evaluator: "is-json", scores: 4, mean: 0.25 }))
  })

  it("never loses a score to a crash: journaled before it is stored, stored after a restart", async () => {
    upstream.reset([{ type: "json", content: "[1, 2]" }])
    const before = langfuse.requests.length
    const last = await post(url, { model: "remote", messages: [{ role: "user", content: "a list" }] })
    // Langfuse is sent a score after it is journaled: once it has both, kill at once (before the next flush, most likely).
    await waitFor("the last scores", () => langfuse.requests.length >= before + 2)
    serve.child.kill("SIGKILL")
    await serve.exited
    serve = start()
    url = await servedUrl(serve)
    await waitFor("the journaled scores stored", async () => (await get(url, `/evaluation/scores?request_id=${last.requestId}`)).data?.length === 2)
    expect((await get(url, `/evaluation/scores?request_id=${last.requestId}`)).data).toMatchObject([{ evaluator: "helpful" }, { evaluator: "is-json", value: 1 }])
  }, 60_000)
})
