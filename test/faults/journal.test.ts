/**
 * Issue 16, items 3, 4 and 11 (full disk): the ledger's journal under faults, through real `inferline
 * serve` processes on a Postgres of the test's own.
 * - item 3: the journal directory deleted while serving: the server notices, makes it again, logs it,
 *   and no answered request loses its row (nor does the server break: no 5xx);
 * - item 4: a second instance on the same journal directory refuses to start (naming
 *   INFERLINE_LEDGER_DIR) instead of replaying and deleting the first's live segments;
 * - item 11: a full disk under the journal: 503 `ledger_unavailable` (not 500), the error logged a few
 *   times (not once per request), and service again once there is room.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sleep } from "../support/free-port.ts"
import { adminCall, complete, MASTER_KEY, serveInferline, spawnInferline, type Answer, type InferlineProcess } from "./support/inferline-process.ts"
import { PrivatePostgres } from "./support/private-postgres.ts"

let pg: PrivatePostgres
beforeAll(async () => {
  pg = await PrivatePostgres.create()
})
afterAll(() => pg?.close())

let databases = 0
/** A database of its own for one test (the server migrates it at startup). */
const freshDatabase = () => {
  const name = `journal_${++databases}`
  pg.psql(`CREATE DATABASE ${name}`, "postgres")
  return pg.url(name)
}

const tmp = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `inferline-faults-${label}-`))

/** Requests from `workers` clients until `stop()`; each answer is kept with the x-request-id it carried. */
const load = (url: string, label: string, workers = 3) => {
  let stopped = false
  const answers: Array<{ readonly id: string; readonly answer: Answer }> = []
  let seq = 0
  const worker = async () => {
    while (!stopped) {
      const id = `${label}-${seq++}`
      answers.push({ id, answer: await complete(url, MASTER_KEY, { headers: { "x-request-id": id }, body: { max_tokens: 2 } }) })
    }
  }
  const running = Promise.all(Array.from({ length: workers }, worker))
  return { answers, stop: async () => { stopped = true; await running } }
}

/** Every client request id with a row in the ledger, and how many rows each has. */
const storedIds = async (server: InferlineProcess): Promise<Map<string, number>> => {
  // Pages newest first; each next one ends 1 ms after the last row seen (`until` excludes it), so rows
  // sharing that millisecond come again: rows are told apart by the server's id.
  const rows = new Map<string, string>()
  let until: number | undefined
  for (;;) {
    const page = (await adminCall(server.url, "GET", `/spend/logs?limit=1000${until === undefined ? "" : `&until=${encodeURIComponent(new Date(until).toISOString())}`}`)).data as Array<any>
    for (const row of page) rows.set(row.request_id, row.client_request_id)
    if (page.length < 1000) break
    until = Date.parse(page[page.length - 1].start_time) + 1
  }
  const counts = new Map<string, number>()
  for (const clientId of rows.values()) counts.set(clientId, (counts.get(clientId) ?? 0) + 1)
  return counts
}

const segmentFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith("segment-")) : [])

describe("the ledger's journal under faults", () => {
  it("item 3: its directory deleted mid-load: made again, logged, no 5xx, and every answered request keeps its row through a SIGKILL", async () => {
    const cwd = tmp("journal-deleted")
    const journalDir = path.join(cwd, "ledger")
    const env = { DATABASE_URL: freshDatabase(), INFERLINE_LEDGER_DIR: journalDir, INFERLINE_LEDGER_FLUSH_MS: "300", INFERLINE_LEDGER_BATCH_ROWS: "50" }
    let server = await serveInferline({ cwd, env, args: ["--disable-log-requests"] })
    const running = load(server.url, "del")
    await sleep(1000)
    fs.rmSync(journalDir, { recursive: true, force: true })
    await sleep(1500)
    // An operator puts the directory back (as the issue's run did): no harm either.
    fs.mkdirSync(journalDir, { recursive: true })
    await sleep(1000)
    // Stop the flushes from hiding anything: what is answered from now on lives only in the journal.
    await running.stop()
    await server.kill()
    const log = server.output()

    const fiveHundreds = running.answers.filter((a) => a.answer.status >= 500)
    expect(fiveHundreds.map((a) => `${a.answer.status} ${a.answer.body}`).slice(0, 3)).toEqual([])
    expect(log).toMatch(/journal's file in .* was deleted while in use/)
    const answered = running.answers.filter((a) => a.answer.status === 200).map((a) => a.id)
    expect(answered.length).toBeGreaterThan(30)

    // The next start replays whatever the killed one journaled: every answered request has one row.
    server = await serveInferline({ cwd, env })
    try {
      const stored = await storedIds(server)
      const missing = answered.filter((id) => !stored.has(id))
      expect(missing.length, `missing rows, e.g. ${missing.slice(0, 5).join(", ")}`).toBe(0)
      expect([...stored.values()].filter((n) => n > 1)).toEqual([])
    } finally {
      await server.stop()
    }
  })

  it("item 4: a second instance on the same journal directory refuses to start; the first loses nothing when killed", async () => {
    const cwd = tmp("journal-shared")
    const journalDir = path.join(cwd, "ledger")
    // A long flush interval: the first instance's rows stay in its journal segments until it is killed.
    const env = { DATABASE_URL: freshDatabase(), INFERLINE_LEDGER_DIR: journalDir, INFERLINE_LEDGER_FLUSH_MS: "600000", INFERLINE_LEDGER_BATCH_ROWS: "100000" }
    const first = await serveInferline({ cwd, env })
    const ids = Array.from({ length: 20 }, (_, i) => `shared-${i}`)
    for (const id of ids) expect((await complete(first.url, MASTER_KEY, { headers: { "x-request-id": id }, body: { max_tokens: 2 } })).status).toBe(200)

    const second = spawnInferline({ cwd, env })
    const outcome = await Promise.race([second.exited.then((e) => ({ exited: e.code })), second.ready.then((s) => ({ served: s }))]).catch(() => ({ exited: -1 }))
    if ("served" in outcome) await outcome.served.kill() // it must not have started at all
    expect("served" in outcome ? "it started and served" : outcome).toEqual({ exited: 1 })
    expect(second.output()).toContain("INFERLINE_LEDGER_DIR")
    expect(second.output()).toContain(`in use by process ${first.pid}`)
    expect(segmentFiles(journalDir).length).toBeGreaterThan(0) // the first's segments are where it left them

    await first.kill()
    const again = await serveInferline({ cwd, env })
    try {
      const stored = await storedIds(again)
      expect(ids.filter((id) => stored.get(id) !== 1)).toEqual([])
    } finally {
      await again.stop()
    }
  })

  it("item 11: a full disk under the journal answers 503 ledger_unavailable, logs it a few times, and serves again once there is room", async (context) => {
    const cwd = tmp("journal-full")
    const journalDir = path.join(cwd, "ledger")
    fs.mkdirSync(journalDir)
    // A 256 KiB file system of the test's own (root only; CI runs as root).
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", journalDir])
    if (mounted.status !== 0) return context.skip(`cannot mount a tmpfs here: ${mounted.stderr}`)
    try {
      // No flush meanwhile: a flush deletes stored segments, which would free room on the full disk.
      const env = { DATABASE_URL: freshDatabase(), INFERLINE_LEDGER_DIR: journalDir, INFERLINE_LEDGER_FLUSH_MS: "600000", INFERLINE_LEDGER_BATCH_ROWS: "100000" }
      let server = await serveInferline({ cwd, env, args: ["--disable-log-requests"] })
      try {
        expect((await complete(server.url, MASTER_KEY)).status).toBe(200)
        // Fill the file system to the last byte.
        const filler = path.join(journalDir, "filler")
        spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"])
        // The journal file's last page may still have room for a few rows; then nothing fits.
        let answered = 0
        let first: Answer
        while ((first = await complete(server.url, MASTER_KEY, { body: { max_tokens: 2 } })).status === 200 && answered < 40) answered++
        expect(answered).toBeLessThan(10)
        const refused: Array<Answer> = [first]
        for (let i = 0; i < 30; i++) refused.push(await complete(server.url, MASTER_KEY, { body: { max_tokens: 2 } }))
        expect(refused.map((a) => a.status)).toEqual(refused.map(() => 503))
        const error = JSON.parse(refused[0].body).error
        expect(error.code).toBe("ledger_unavailable")
        expect(error.message).toContain("ENOSPC")
        expect(refused[0].headers.get("retry-after")).toBe("5")
        // Logged, but not once per request: the first failure, with the repeats left out.
        const logged = server.output().split("\n").filter((l) => l.includes("cannot write the journal")).length
        expect(logged).toBeGreaterThanOrEqual(1)
        expect(logged).toBeLessThanOrEqual(3)
        expect(server.output()).not.toContain("/v1/completions failed") // no 500 path logged a stack trace per request
        // Room again: served again, and the answered requests' rows reach the database.
        fs.rmSync(filler)
        const ids = Array.from({ length: 5 }, (_, i) => `after-full-${i}`)
        for (const id of ids) expect((await complete(server.url, MASTER_KEY, { headers: { "x-request-id": id } })).status).toBe(200)
        expect(server.output()).toContain("can be written again")
        expect(await server.stop()).toBe(0) // flushes the journal
        server = await serveInferline({ cwd, env })
        const stored = await storedIds(server)
        expect(ids.filter((id) => stored.get(id) !== 1)).toEqual([])
      } finally {
        await server.stop()
      }
    } finally {
      spawnSync("umount", ["-l", journalDir])
    }
  })
})
