import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { DATABASE_URL, postgresSchemaLayer, tempDir, uniqueName } from "./support/ledger-database.ts"

const SERVER = fileURLToPath(new URL("./support/crash-server.ts", import.meta.url))
const KILLS = 6
/** Rows the restarted processes replayed from their predecessors' journals (read from their logs). */
let replayed = 0

/** Starts the server process; resolves with it and its URL once it prints READY. */
const startServer = (schema: string, journalDir: string) =>
  new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, CRASH_DATABASE_URL: DATABASE_URL, CRASH_SCHEMA: schema, CRASH_JOURNAL_DIR: journalDir },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => {
      out += chunk
      for (const r of chunk.matchAll(/ledger: replayed (\d+)/g)) replayed += Number(r[1])
      const m = /READY (\d+)/.exec(out)
      if (m !== null) resolve({ child, url: `http://127.0.0.1:${m[1]}` })
    })
    child.on("exit", (code) => reject(new Error(`server exited (${code}) before READY: ${out}`)))
  })

/** Requests in a loop from `workers` clients until the server dies; returns the ids answered 200. */
const load = async (url: string, round: number, workers: number, completed: Set<string>, attempted: Set<string>) => {
  let stop = false
  let seq = 0
  const worker = async (w: number) => {
    while (!stop) {
      const id = `crash-${round}-${w}-${seq++}`
      attempted.add(id)
      try {
        // The real /v1/completions route (a token-id prompt: the fake engine has no tokenizer).
        const r = await fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": id },
          body: JSON.stringify({ model: "fake", prompt: [1, 2, 3, (seq % 50) + 4], max_tokens: 3 })
        })
        await r.text()
        if (r.status === 200) completed.add(id)
      } catch {
        stop = true // the server is gone
      }
    }
  }
  return { done: Promise.all(Array.from({ length: workers }, (_, w) => worker(w))), stop: () => (stop = true) }
}

it.live(`SIGKILLed ${KILLS} times under load, the ledger still has exactly one row per completed request`, () =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const schema = (yield* sql<{ s: string }>`SELECT current_schema() AS s`)[0].s
    const journalDir = tempDir("crash")
    const completed = new Set<string>()
    const attempted = new Set<string>()
    yield* Effect.promise(async () => {
      for (let round = 0; round < KILLS; round++) {
        const { child, url } = await startServer(schema, journalDir)
        const running = await load(url, round, 6, completed, attempted)
        // A random moment: while requests are in flight, batches pending, journal segments open.
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 900))
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGKILL")
        await exited
        running.stop()
        await running.done
      }
      // One more start replays what the last process journaled but never wrote; then stop it cleanly.
      const { child } = await startServer(schema, journalDir)
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      await exited
    })
    // The client's ids (x-request-id) are each request's correlation id; the server made the keys.
    const rows = yield* sql<{ client_request_id: string }>`SELECT client_request_id FROM spend_logs`
    const stored = new Set(rows.map((r) => r.client_request_id))
    const missing = [...completed].filter((id) => !stored.has(id))
    const unknown = [...stored].filter((id) => !attempted.has(id))
    console.log(`crash test: ${KILLS} SIGKILLs, ${completed.size} completed requests, ${stored.size} rows (${stored.size - completed.size} from requests cut off after their row was journaled), ${missing.length} missing; ${replayed} rows replayed from journals`)
    expect(completed.size).toBeGreaterThan(50)
    expect(missing).toEqual([])
    expect(unknown).toEqual([])
    expect(rows.length).toBe(stored.size) // one row per request
    const [daily] = yield* sql<{ n: string }>`SELECT sum(requests) AS n FROM spend_daily WHERE group_kind = 'model'`
    expect(Number(daily.n)).toBe(stored.size) // aggregates counted each request once too
  }).pipe(Effect.provide(postgresSchemaLayer(uniqueName("obs_crash")))))
