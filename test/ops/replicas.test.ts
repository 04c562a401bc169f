import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"

/**
 * Scale-out as the README describes it: three `inferline serve --no-model` replicas on loopback sharing
 * the machine's PostgreSQL and Redis, requests spread round-robin. Cooldowns, a deployment's rpm and
 * key revocations hold across the replicas, and a replica killed with SIGKILL loses no ledger row of a
 * request it answered.
 */
const MASTER = "sk-master-replicas"
const DATABASE_URL = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test"
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379"
const RPM = 60

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-replicas-"))
let good: FakeUpstream
let failing: FakeUpstream
let slow: FakeUpstream
let configFile: string
const replicas: Array<{ serve: ServeProcess; url: string; ledgerDir: string }> = []

const startReplica = async (ledgerDir = fs.mkdtempSync(path.join(tmp, "ledger-"))) => {
  const serve = spawnServe(["--config", configFile, "--no-model", "--port", "0", "--disable-log-requests"], {
    INFERLINE_MASTER_KEY: MASTER, DATABASE_URL, REDIS_URL, INFERLINE_LEDGER_DIR: ledgerDir, INFERLINE_LEDGER_FLUSH_MS: "50"
  })
  return { serve, url: await servedUrl(serve), ledgerDir }
}

beforeAll(async () => {
  good = await startFakeUpstream([{ type: "json", content: "ok" }])
  failing = await startFakeUpstream([{ type: "status", status: 500, body: { error: { message: "upstream down" } } }])
  slow = await startFakeUpstream([{ type: "json", content: "slow", delayMs: 1500 }])
  configFile = path.join(tmp, "router.yaml")
  fs.writeFileSync(configFile, [
    "model_list:",
    `  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${good.url}/v1", api_key: k } }`,
    `  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${failing.url}/v1", api_key: k } }`,
    `  - { model_name: limited, litellm_params: { model: openai/m, api_base: "${good.url}/v1", api_key: k, rpm: ${RPM} } }`,
    `  - { model_name: capped, litellm_params: { model: openai/m, api_base: "${slow.url}/v1", api_key: k, max_parallel_requests: 2 } }`,
    "router_settings: { routing_strategy: usage-based-routing, allowed_fails: 0, cooldown_time: 60, num_retries: 1, retry_after: 0 }"
  ].join("\n"))
  replicas.push(...await Promise.all([startReplica(), startReplica(), startReplica()]))
}, 120_000)

afterAll(async () => {
  for (const r of replicas) {
    r.serve.child.kill("SIGTERM")
    await r.serve.exited
  }
  await good.close()
  await failing.close()
  await slow.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const auth = (key = MASTER) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" })
const chat = (url: string, model: string, key = MASTER) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: auth(key), body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }) })

const stateOf = async (url: string, upstream: FakeUpstream): Promise<string | undefined> => {
  const r = await fetch(`${url}/router/deployments`, { headers: auth() })
  const data = ((await r.json()) as { data: Array<{ api_base: string; group: string; state: string }> }).data
  return data.find((d) => d.group === "chat" && d.api_base === `${upstream.url}/v1`)?.state
}

describe("three replicas sharing PostgreSQL and Redis", () => {
  it("a cooldown entered on one replica is honoured by the others within 1 s", async () => {
    const [a, b, c] = replicas
    // Round-robin on replica A until the failing deployment has been tried (and so put in cooldown).
    for (let i = 0; i < 40 && failing.requests.length === 0; i++) expect((await chat(a.url, "chat")).status).toBe(200)
    expect(failing.requests.length).toBe(1)
    const cooled = performance.now()
    expect(await stateOf(a.url, failing)).toBe("open")
    await waitFor("replicas B and C to honour the cooldown", async () => (await stateOf(b.url, failing)) === "open" && (await stateOf(c.url, failing)) === "open", 1000)
    const seen = performance.now() - cooled
    expect(seen).toBeLessThan(1000)
    // And they act on it: none of their requests reaches the failing upstream.
    for (let i = 0; i < 20; i++) expect((await chat([b, c][i % 2].url, "chat")).status).toBe(200)
    expect(failing.requests.length).toBe(1)
    console.log(`cooldown seen on the other replicas after ${seen.toFixed(0)} ms`)
  })

  it(`a deployment's rpm (${RPM}) holds over the replicas together, within 2%`, async () => {
    // All requests inside one minute window: start a fresh minute when this one is nearly over.
    const intoMinute = Date.now() % 60_000
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200))
    const statuses: Array<number> = []
    const total = RPM * 2
    for (let i = 0; i < total; i += 6) {
      const batch = await Promise.all(Array.from({ length: 6 }, (_, j) => chat(replicas[(i + j) % 3].url, "limited")))
      for (const r of batch) {
        statuses.push(r.status)
        if (r.status === 429) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0)
        await r.arrayBuffer()
      }
    }
    const answered = statuses.filter((s) => s === 200).length
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([])
    expect(Math.abs(answered - RPM)).toBeLessThanOrEqual(RPM * 0.02)
    console.log(`rpm ${RPM}: ${answered} of ${total} requests over 3 replicas answered`)
  })

  it("a deployment's max_parallel_requests (2) holds over the replicas together", async () => {
    // Nine requests at once, three per replica, to a deployment that takes 1.5 s per answer.
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => chat(replicas[i % 3].url, "capped")))
    const statuses = answers.map((r) => r.status)
    await Promise.all(answers.map((r) => r.arrayBuffer()))
    expect(statuses.filter((s) => s === 200)).toHaveLength(2)
    expect(statuses.filter((s) => s === 429)).toHaveLength(7)
    expect(slow.requests).toHaveLength(2)
    // The slots are given back when the answers are done.
    expect((await chat(replicas[2].url, "capped")).status).toBe(200)
  })

  it("a key revoked through one replica is refused by every replica within 1 s", async () => {
    const [a, b, c] = replicas
    const created = await fetch(`${a.url}/admin/keys`, { method: "POST", headers: auth(), body: JSON.stringify({ name: "revoked-across-replicas" }) })
    const { id, key } = (await created.json()) as { id: string; key: string }
    // Every replica has the key cached as valid.
    for (const r of replicas) expect((await fetch(`${r.url}/v1/models`, { headers: auth(key) })).status).toBe(200)
    expect((await fetch(`${a.url}/admin/keys/${id}`, { method: "DELETE", headers: auth() })).status).toBe(200)
    const revoked = performance.now()
    await waitFor("every replica to refuse the key", async () => {
      const statuses = await Promise.all([b, c].map(async (r) => (await fetch(`${r.url}/v1/models`, { headers: auth(key) })).status))
      return statuses.every((s) => s === 401)
    }, 1000)
    const seen = performance.now() - revoked
    expect(seen).toBeLessThan(1000)
    console.log(`revocation effective on every replica after ${seen.toFixed(0)} ms`)
  })

  it("a replica killed with SIGKILL mid-run loses no ledger row of a request it answered", async () => {
    const victim = replicas[2]
    const answered: Array<string> = []
    let killed = false
    const load = (async () => {
      for (let i = 0; i < 300 && !killed; i++) {
        const r = replicas[i % 3]
        try {
          const res = await chat(r.url, "chat")
          if (res.status === 200 && r === victim) answered.push(res.headers.get("x-inferline-request-id")!)
          await res.arrayBuffer()
        } catch {
          // the killed replica's connection: not an answered request
        }
      }
    })()
    await waitFor("the victim to answer some requests", () => answered.length >= 20, 30_000)
    victim.serve.child.kill("SIGKILL")
    killed = true
    await load
    await victim.serve.exited
    // Restarted on the same journal directory (as a supervisor would), it replays what it journaled.
    replicas[2] = await startReplica(victim.ledgerDir)
    const missing = async () => {
      const left: Array<string> = []
      for (const id of answered) {
        const r = await fetch(`${replicas[0].url}/spend/logs?request_id=${id}`, { headers: auth() })
        if (((await r.json()) as { data: Array<unknown> }).data.length === 0) left.push(id)
      }
      return left
    }
    await waitFor("every answered request's ledger row", async () => (await missing()).length === 0, 15_000).catch(() => undefined)
    expect(await missing()).toEqual([])
    console.log(`SIGKILL: ${answered.length} requests answered by the killed replica, all in the ledger`)
  })
})
