import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeUpstream, type FakeUpstream } from "../../src/router/testing/fake-upstream.ts"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "./support/server.ts"

/**
 * Stored responses in PostgreSQL (DATABASE_URL), shared by two instances as replicas behind a load
 * balancer would share them: a response stored through one is retrieved, listed and continued through
 * the other, and stays its key's only.
 */
const MASTER = "sk-master-responses-pg"
const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

describe("stored responses across two instances sharing Postgres", () => {
  let upstream: FakeUpstream
  let a: ServeProcess, b: ServeProcess
  let urlA: string, urlB: string
  beforeAll(async () => {
    upstream = await startFakeUpstream([{ type: "json", content: "Stored answer." }])
    const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "responses-pg-")), "router.yaml")
    fs.writeFileSync(config, `model_list:\n  - { model_name: remote, litellm_params: { model: openai/r, api_base: "${upstream.url}/v1" } }\n`)
    const start = () => spawnServe([testModelDir(), "--port", "0", "--config", config, "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, DATABASE_URL })
    a = start()
    urlA = await servedUrl(a)
    b = start()
    urlB = await servedUrl(b)
  }, 90_000)
  afterAll(async () => {
    for (const s of [a, b]) s.child.kill("SIGTERM")
    await Promise.all([a.exited, b.exited])
    await upstream.close()
  })

  const keyClient = async (name: string, url: string) => {
    const r = await fetch(`${urlA}/admin/keys`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ name }) })
    return new OpenAI({ baseURL: `${url}/v1`, apiKey: ((await r.json()) as any).key, maxRetries: 0 })
  }

  it("stores through one instance and serves the other; another key sees nothing", async () => {
    const onA = await keyClient("writer", urlA)
    const onB = new OpenAI({ baseURL: `${urlB}/v1`, apiKey: onA.apiKey, maxRetries: 0 })
    const created = await onA.responses.create({ model: "remote", input: "Remember this." })
    const fetched = await onB.responses.retrieve(created.id)
    expect(fetched.id).toBe(created.id)
    expect(fetched.output_text).toBe("Stored answer.")
    expect((await onB.responses.inputItems.list(created.id)).data[0]).toMatchObject({ type: "message", role: "user", content: [{ type: "input_text", text: "Remember this." }] })
    const continued = await onB.responses.create({ model: "remote", input: "And now?", previous_response_id: created.id })
    expect(continued.previous_response_id).toBe(created.id)
    expect(upstream.requests.at(-1)!.body.messages).toEqual([
      { role: "user", content: "Remember this." },
      { role: "assistant", content: "Stored answer." },
      { role: "user", content: "And now?" }
    ])
    const other = await keyClient("reader", urlB)
    await expect(other.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await onA.responses.delete(created.id)
    await expect(onB.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})
