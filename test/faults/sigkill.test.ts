/**
 * The reliability suite's SIGKILL run: `inferline serve` (real model, Postgres of the test's own) killed
 * with SIGKILL at random moments under load (streaming and not), restarted on the same journal each
 * time. Every request answered in full has exactly one ledger row, and no row appears for a request
 * never sent; the daily totals count each row once.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, expect, it } from "vitest"
import { sleep } from "../support/free-port.ts"
import { MASTER_KEY, MODEL, serveInferline } from "./support/inferline-process.ts"
import { PrivatePostgres } from "./support/private-postgres.ts"

const KILLS = 4

let pg: PrivatePostgres
beforeAll(async () => {
  pg = await PrivatePostgres.create()
})
afterAll(() => pg?.close())

/** One request, answered in full (a stream counts once its [DONE] has arrived); false if cut off. */
const request = async (url: string, id: string, stream: boolean): Promise<boolean> => {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${MASTER_KEY}`, "x-request-id": id },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `In the beginning ${id}` }], max_tokens: 6, stream })
    })
    const text = await res.text()
    return res.status === 200 && (!stream || text.includes("data: [DONE]"))
  } catch {
    return false
  }
}

it(`SIGKILLed ${KILLS} times under load: exactly one ledger row per answered request, none for others`, async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-faults-sigkill-"))
  const env = { DATABASE_URL: pg.url(), INFERLINE_LEDGER_DIR: path.join(cwd, "ledger"), INFERLINE_LEDGER_BATCH_ROWS: "40", INFERLINE_LEDGER_FLUSH_MS: "300" }
  const answered = new Set<string>()
  const sent = new Set<string>()
  for (let round = 0; round < KILLS; round++) {
    const server = await serveInferline({ cwd, env, args: ["--disable-log-requests"] })
    let stop = false
    const workers = Array.from({ length: 6 }, async (_, w) => {
      for (let seq = 0; !stop; seq++) {
        const id = `kill-${round}-${w}-${seq}`
        sent.add(id)
        if (await request(server.url, id, seq % 2 === 0)) answered.add(id)
        else stop = true // the server is gone
      }
    })
    // A random moment: requests in flight, batches pending, journal segments open.
    await sleep(1000 + Math.random() * 1500)
    await server.kill()
    stop = true
    await Promise.all(workers)
  }
  // One more start replays what the last one journaled; a clean stop writes everything.
  const last = await serveInferline({ cwd, env })
  expect(await last.stop()).toBe(0)

  const rows = pg.psql("SELECT client_request_id, count(*) FROM spend_logs GROUP BY 1").split("\n").filter((l) => l !== "").map((l) => l.split("|"))
  const stored = new Map(rows.map(([id, n]) => [id, Number(n)]))
  const missing = [...answered].filter((id) => !stored.has(id))
  console.log(`sigkill: ${KILLS} kills, ${sent.size} requests sent, ${answered.size} answered, ${stored.size} rows (${stored.size - answered.size} of requests cut off after their row was journaled), ${missing.length} missing`)
  expect(answered.size).toBeGreaterThan(40)
  expect(missing).toEqual([])
  expect([...stored].filter(([, n]) => n !== 1)).toEqual([])
  expect([...stored.keys()].filter((id) => !sent.has(id))).toEqual([])
  const daily = Number(pg.psql("SELECT sum(requests) FROM spend_daily WHERE group_kind = 'model'"))
  expect(daily).toBe(stored.size)
})
