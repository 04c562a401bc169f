/**
 * Issue 16, item 5: a failed read of a key's spend must not reset it. The key spends past its budget;
 * the server restarts (its spend must be read again); the read fails (spend_logs locked by another
 * session past the statement timeout). The server refuses with 503 `budget_unavailable` rather than
 * count the key's spend from 0, and once the read works it refuses with 400 `budget_exceeded`.
 */
import { afterAll, beforeAll, expect, it } from "vitest"
import { complete, createKey } from "./support/inferline-process.ts"
import { codeOf, serveOnPrivateServices } from "./support/outage-server.ts"
import { PrivatePostgres } from "./support/private-postgres.ts"

let pg: PrivatePostgres
beforeAll(async () => {
  pg = await PrivatePostgres.create()
})
afterAll(() => pg?.close())

it("a spend read that fails refuses with 503 instead of counting from 0; once it works the spent budget is refused again", async () => {
  let { server, database } = await serveOnPrivateServices(pg, undefined)
  const first = await complete(server.url, "sk-faults-master")
  expect(first.status).toBe(200)
  const cost = JSON.parse(first.body).usage.total_tokens * 1000 / 1e6
  const key = await createKey(server.url, { max_budget: 2.5 * cost })
  const spending = [await complete(server.url, key.key), await complete(server.url, key.key), await complete(server.url, key.key), await complete(server.url, key.key)]
  expect(spending.map((a) => a.status)).toEqual([200, 200, 200, 400])
  expect(await server.stop()).toBe(0)

  // Reads of spend_logs now fail: another session holds it locked, and the database gives up waiting
  // (the server's own timeout, or the database's statement_timeout, whichever comes first).
  pg.psql(`ALTER DATABASE ${database} SET statement_timeout = '500ms'`, "postgres")
  ;({ server } = await serveOnPrivateServices(pg, undefined, {}, database))
  const lock = await pg.hold("BEGIN; LOCK TABLE spend_logs IN ACCESS EXCLUSIVE MODE;", database)
  try {
    const refused = [await complete(server.url, key.key), await complete(server.url, key.key), await complete(server.url, key.key)]
    expect(refused.map((a) => [a.status, codeOf(a)])).toEqual(refused.map(() => [503, "budget_unavailable"]))
    expect(refused[0].headers.get("retry-after")).toBe("1")
  } finally {
    await lock.release()
  }
  // The read works again (the next request retries it): the budget is still spent.
  let after = await complete(server.url, key.key)
  for (let i = 0; i < 20 && after.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 250))
    after = await complete(server.url, key.key)
  }
  expect([after.status, codeOf(after)]).toEqual([400, "budget_exceeded"])
  await server.stop()
})
