/**
 * Issue 16, item 1: a client-chosen x-request-id must not be the ledger's key. Requests that reuse one
 * id (two keys) each get their own ledger row under a server-made id; the client's id is kept as the
 * row's client_request_id and echoed back; spend, reports and budgets count every request, across a
 * restart too.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, expect, it } from "vitest"
import { adminCall, complete, createKey, masterHeaders, MODEL, serveInferline, type InferlineProcess } from "./support/inferline-process.ts"

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-faults-reqid-"))
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }))

/** Embedded PGlite under `cwd` (kept across restarts), every model token priced so spend is visible. */
const serve = () => serveInferline({ cwd, env: { INFERLINE_PRICE_TABLE: JSON.stringify({ models: { [MODEL]: { input: 1000, output: 1000 } } }) } })

const spendLogs = (server: InferlineProcess, query: string) => adminCall(server.url, "GET", `/spend/logs?${query}&limit=1000`).then((r) => r.data as Array<Record<string, any>>)

/** `n` streaming requests, one after the other, over one WebSocket connection. */
const webSocketRequests = (url: string, key: string, n: number) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/ws`, { headers: { authorization: `Bearer ${key}`, "x-request-id": "ws-connection" } } as any)
    let done = 0
    const send = () => ws.send(JSON.stringify({ type: "completions", model: MODEL, prompt: "And God said", max_tokens: 2 }))
    ws.onopen = send
    ws.onerror = (e) => reject(new Error(`websocket: ${String((e as any).message ?? e)}`))
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data))
      if (m.type === "error") return reject(new Error(JSON.stringify(m)))
      if (m.type !== "done") return
      if (++done === n) {
        ws.close()
        resolve()
      } else send()
    }
  })

it("requests sharing one x-request-id each get a ledger row of their own, and budgets count them all after a restart", async () => {
  const SHARED = "client-id-reused"
  let server = await serve()
  const a = await createKey(server.url)
  // Every request is the same (greedy), so it costs the same: B's budget is spent by its 3rd request.
  const first = await complete(server.url, a.key, { headers: { "x-request-id": SHARED } })
  expect(first.status, first.body).toBe(200)
  const cost = JSON.parse(first.body).usage.total_tokens * 1000 / 1e6
  const b = await createKey(server.url, { max_budget: 2.5 * cost })
  const serverIds: Array<string> = [first.headers.get("x-inferline-request-id")!]
  let answeredB = 0
  for (let i = 1; i < 13; i++) {
    const key = i % 2 === 0 ? a.key : b.key
    const r = await complete(server.url, key, { headers: { "x-request-id": SHARED } })
    // The client's id comes back as sent; the ledger's own id comes with it (refusals included).
    expect(r.headers.get("x-request-id")).toBe(SHARED)
    const own = r.headers.get("x-inferline-request-id")
    expect(own).toMatch(/^req_[0-9a-f]{32}$/)
    serverIds.push(own!)
    if (key === b.key && r.status === 400) {
      expect(JSON.parse(r.body).error.code).toBe("budget_exceeded")
      continue
    }
    expect(r.status, r.body).toBe(200)
    if (key === b.key) answeredB++
  }
  // B's 4th to 6th requests were refused (each refusal is a ledger row too, status error).
  expect(answeredB).toBe(3)
  expect(new Set(serverIds).size).toBe(serverIds.length)
  expect(await server.stop()).toBe(0) // a clean stop flushes the ledger

  server = await serve()
  try {
    const rowsA = await spendLogs(server, `key=${a.id}`)
    const rowsB = await spendLogs(server, `key=${b.id}`)
    expect(rowsA.length).toBe(7)
    expect(rowsB.map((r) => r.status).sort()).toEqual(["error", "error", "error", "ok", "ok", "ok"])
    const all = [...rowsA, ...rowsB]
    expect(new Set(all.map((r) => r.request_id))).toEqual(new Set(serverIds))
    for (const row of all) expect(row.client_request_id).toBe(SHARED)
    // The correlation id finds every request that carried it.
    expect((await spendLogs(server, `client_request_id=${SHARED}`)).length).toBe(13)
    expect((await spendLogs(server, `request_id=${serverIds[0]}`)).map((r) => r.request_id)).toEqual([serverIds[0]])
    // The report and the dashboard count each request once per key.
    const report = await adminCall(server.url, "GET", "/spend/report?group_by=key")
    const requests = (id: string) => report.daily.filter((d: any) => d.group === id).reduce((n: number, d: any) => n + d.requests, 0)
    expect(requests(a.id)).toBe(7)
    expect(requests(b.id)).toBe(6)
    const ui = await (await fetch(`${server.url}/ui/data`, { headers: masterHeaders })).json() as any
    expect(ui.ledger.spend_by_key.find((k: any) => k.key === b.id).requests).toBe(6)
    // Spent 3 of 2.5 requests' worth before the restart: still refused after it.
    const again = await complete(server.url, b.key, { headers: { "x-request-id": SHARED } })
    expect(again.status, again.body).toBe(400)
    expect(JSON.parse(again.body).error.code).toBe("budget_exceeded")
    // Requests sent over one WebSocket are requests of their own too (the upgrade's id is the connection's).
    const before = (await spendLogs(server, `key=${a.id}`)).length
    await webSocketRequests(server.url, a.key, 3)
    expect(await server.stop()).toBe(0)
    server = await serve()
    expect((await spendLogs(server, `key=${a.id}`)).length).toBe(before + 3)
    // Without a client id, x-request-id is the server's own.
    const plain = await complete(server.url, a.key)
    expect(plain.headers.get("x-request-id")).toBe(plain.headers.get("x-inferline-request-id"))
  } finally {
    await server.stop()
  }
})
