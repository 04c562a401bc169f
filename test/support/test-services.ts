import * as net from "node:net"

/** Where the suite finds its services: DATABASE_URL and REDIS_URL, or these defaults. */
export const TEST_DATABASE_URL_DEFAULT = "postgres://postgres@127.0.0.1:5432/test"
export const TEST_REDIS_URL_DEFAULT = "redis://127.0.0.1:6379"

const reachable = (url: string, defaultPort: number, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || defaultPort) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/**
 * The services the suite needs and cannot reach, as one message naming the addresses and how to set
 * them; undefined when both answer. Checked once before any test file runs (vitest globalSetup), so a
 * machine without them gets this instead of hundreds of connection errors.
 */
export const missingTestServices = async (env: Record<string, string | undefined>, timeoutMs = 2000): Promise<string | undefined> => {
  const database = env.DATABASE_URL || TEST_DATABASE_URL_DEFAULT
  const redis = env.REDIS_URL || TEST_REDIS_URL_DEFAULT
  const missing = [
    ...(await reachable(database, 5432, timeoutMs)) ? [] : [`PostgreSQL at ${database} (set DATABASE_URL)`],
    ...(await reachable(redis, 6379, timeoutMs)) ? [] : [`Redis at ${redis} (set REDIS_URL)`]
  ]
  if (missing.length === 0) return undefined
  return `The test suite needs a PostgreSQL server and a Redis server; not reachable: ${missing.join("; ")}. ` +
    "Start them (bash .ci/run starts both if they are installed) or point DATABASE_URL / REDIS_URL at yours."
}

/** vitest globalSetup. */
export default async function setup(): Promise<void> {
  const message = await missingTestServices(process.env)
  if (message !== undefined) throw new Error(message)
}
