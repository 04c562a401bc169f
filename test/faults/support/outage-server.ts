import { sleep } from "../../support/free-port.ts"
import { complete, createKey, MODEL, serveInferline, type Answer, type InferlineProcess } from "./inferline-process.ts"
import type { PrivatePostgres } from "./private-postgres.ts"
import type { PrivateRedis } from "./private-redis.ts"

/** Timeouts the outage tests run with (short, so a test takes seconds): 1 s for Postgres, 300 ms for Redis. */
export const DB_TIMEOUT_MS = 1000
export const REDIS_TIMEOUT_MS = 300

let databases = 0

/** `inferline serve` on a fresh database of `pg` (and `redis` for limits), with the outage tests' settings. */
export const serveOnPrivateServices = async (pg: PrivatePostgres, redis: PrivateRedis | undefined, env: Record<string, string> = {}, database?: string) => {
  const name = database ?? `outage_${process.pid}_${++databases}`
  if (database === undefined) pg.psql(`CREATE DATABASE ${name}`, "postgres")
  const server = await serveInferline({
    env: {
      DATABASE_URL: pg.url(name),
      ...(redis === undefined ? {} : { REDIS_URL: redis.url }),
      INFERLINE_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS),
      INFERLINE_REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
      INFERLINE_LEDGER_FLUSH_MS: "200",
      INFERLINE_PRICE_TABLE: JSON.stringify({ models: { [MODEL]: { input: 1000, output: 1000 } } }),
      ...env
    },
    args: ["--disable-log-requests"]
  })
  return { server, database: name }
}

/** Calls `request` every `everyMs` for `ms` (one at a time: a hung call holds the next back, as a client's would). */
export const repeatFor = async (ms: number, everyMs: number, request: () => Promise<Answer>): Promise<Array<Answer>> => {
  const answers: Array<Answer> = []
  const end = Date.now() + ms
  while (Date.now() < end) {
    const started = Date.now()
    answers.push(await request())
    await sleep(Math.max(0, everyMs - (Date.now() - started)))
  }
  return answers
}

/** Log lines at WARN or ERROR level (the server's logger: `[time] LEVEL (#fiber): message`). */
export const warnings = (output: string): Array<string> => output.split("\n").filter((l) => /^\[[\d:.]+\] (WARN|ERROR) /.test(l))

export const statuses = (answers: ReadonlyArray<Answer>) => answers.map((a) => a.status)
export const slowest = (answers: ReadonlyArray<Answer>) => Math.max(...answers.map((a) => a.ms))
export const codeOf = (answer: Answer): string | undefined => {
  try {
    return JSON.parse(answer.body).error?.code
  } catch {
    return undefined
  }
}

/** A key that has made one request (so it is in the server's key cache) and one that never has. */
export const cachedAndUncachedKeys = async (server: InferlineProcess, fields: Record<string, unknown> = {}) => {
  const cached = await createKey(server.url, fields)
  const uncached = await createKey(server.url, fields)
  const warm = await complete(server.url, cached.key)
  if (warm.status !== 200) throw new Error(`warm-up request: ${warm.status} ${warm.body}`)
  return { cached, uncached }
}
