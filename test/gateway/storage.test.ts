import { layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { describe, expect } from "vitest"
import { hashApiKey } from "../../src/gateway/api-key.ts"
import { gatewayLayer, type GatewayOptions } from "../../src/gateway/layers.ts"
import { databaseBackends } from "./support/databases.ts"
import { admin, complete, MASTER_KEY } from "./support/http.ts"
import { serveGateway } from "./support/test-server.ts"

// Keys and teams stored in PostgreSQL and in embedded PGlite, exercised through the admin API and a
// protected route: the same SQL must behave the same on both.

const KEY_SHAPE = /^sk-inf-[0-9A-Za-z]{43}$/

/** A server over the suite's database; `options` tune the gateway (e.g. a short key cache TTL). */
const server = (options: GatewayOptions = {}) =>
  Effect.gen(function*() {
    const database = Layer.succeedContext(yield* Effect.context<SqlClient.SqlClient>())
    return (yield* serveGateway(gatewayLayer({ masterKey: MASTER_KEY, ...options }).pipe(Layer.provide(database)))).url
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

for (const backend of databaseBackends) {
  describe(backend.name, () => {
    layer(backend.layer(), { timeout: "60 seconds", excludeTestServices: true })((it) => {
      it.effect("key lifecycle: create, use, patch, revoke", () =>
        Effect.gen(function*() {
          const url = yield* server()
          yield* promise(async () => {
            const created = await admin(url, "POST", "/admin/keys", { name: "ci", models: ["m"], rpm_limit: 100, metadata: { owner: "qa" } })
            expect(created.status).toBe(201)
            const key: string = created.json.key
            expect(key).toMatch(KEY_SHAPE)
            expect(created.json).toMatchObject({ name: "ci", models: ["m"], rpm_limit: 100, metadata: { owner: "qa" }, key_prefix: key.slice(0, 12), revoked_at: null })
            expect(created.json).not.toHaveProperty("key_hash")
            const id: string = created.json.id

            const fetched = await admin(url, "GET", `/admin/keys/${id}`)
            expect(fetched.status).toBe(200)
            expect(fetched.json).not.toHaveProperty("key")
            expect(fetched.json).not.toHaveProperty("key_hash")
            expect((await admin(url, "GET", "/admin/keys")).json.data.map((k: any) => k.id)).toContain(id)

            expect((await complete(url, key)).status).toBe(200)
            const forbidden = await complete(url, key, { model: "other" })
            expect(forbidden.status).toBe(403)
            expect(forbidden.json.error).toMatchObject({ code: "model_not_allowed", param: "model" })

            // A patch applies at once on this instance (the key cache is invalidated).
            const patched = await admin(url, "PATCH", `/admin/keys/${id}`, { models: ["other"], rpm_limit: null })
            expect(patched.status).toBe(200)
            expect(patched.json).toMatchObject({ models: ["other"], rpm_limit: null, name: "ci", metadata: { owner: "qa" } })
            expect((await complete(url, key, { model: "other" })).status).toBe(200)
            expect((await complete(url, key, { model: "m" })).status).toBe(403)

            // Misspelt or invalid fields are refused, naming the field.
            const typo = await admin(url, "PATCH", `/admin/keys/${id}`, { rpm: 5 })
            expect(typo.status).toBe(400)
            expect(typo.json.error.param).toBe("rpm")
            expect((await admin(url, "PATCH", `/admin/keys/${id}`, { tpm_limit: -1 })).json.error.param).toBe("tpm_limit")
            // Past the integer column's range: refused up front, on keys and teams alike.
            const huge = await admin(url, "PATCH", `/admin/keys/${id}`, { tpm_limit: 1e12 })
            expect(huge.status).toBe(400)
            expect(huge.json.error.param).toBe("tpm_limit")
            expect((await admin(url, "POST", "/admin/teams", { rpm_limit: 2 ** 31 })).json.error.param).toBe("rpm_limit")
            expect((await admin(url, "POST", "/admin/teams", { rpm_limit: 2 ** 31 - 1 })).status).toBe(201)
            expect((await admin(url, "PATCH", `/admin/keys/${id}`, { budget_duration: "hourly" })).status).toBe(400)
            expect((await admin(url, "POST", "/admin/keys", { team_id: "00000000-0000-4000-8000-000000000000" })).json.error.param).toBe("team_id")

            const revoked = await admin(url, "DELETE", `/admin/keys/${id}`)
            expect(revoked.status).toBe(200)
            expect(revoked.json.revoked_at).not.toBeNull()
            expect((await complete(url, key, { model: "other" })).status).toBe(401)
            expect((await admin(url, "GET", "/admin/keys")).json.data.map((k: any) => k.id)).not.toContain(id)
            expect((await admin(url, "GET", "/admin/keys?include_revoked=true")).json.data.map((k: any) => k.id)).toContain(id)

            expect((await admin(url, "GET", "/admin/keys/00000000-0000-4000-8000-000000000000")).status).toBe(404)
            expect((await admin(url, "GET", "/admin/keys/not-a-uuid")).status).toBe(404)
            expect((await admin(url, "DELETE", "/admin/teams/not-a-uuid")).status).toBe(404)
          })
        }))

      it.effect("stores no plaintext key anywhere: every text column of every table", () =>
        Effect.gen(function*() {
          const url = yield* server()
          const keys = yield* promise(async () => {
            const team = (await admin(url, "POST", "/admin/teams", { name: "t" })).json
            const a = (await admin(url, "POST", "/admin/keys", { name: "a", team_id: team.id })).json
            const b = (await admin(url, "POST", "/admin/keys", { name: "b", metadata: { note: "n" } })).json
            await admin(url, "PATCH", `/admin/keys/${b.id}`, { name: "b2" })
            expect((await complete(url, a.key)).status).toBe(200)
            return [a.key as string, b.key as string]
          })
          const sql = yield* SqlClient.SqlClient
          const columns = yield* sql<{ table_name: string; column_name: string }>`
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'bytea')`
          expect(columns.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(expect.arrayContaining(["api_keys.key_hash", "api_keys.key_prefix", "teams.name"]))
          const values: Array<string> = []
          for (const { table_name, column_name } of columns) {
            const rows = yield* sql.unsafe<{ v: string | null }>(`SELECT "${column_name}"::text AS v FROM "${table_name}"`)
            for (const { v } of rows) if (v !== null) values.push(v)
          }
          for (const key of keys) {
            const secret = key.slice(12) // everything after the displayed prefix
            expect(values.some((v) => v.includes(secret.slice(0, 16)))).toBe(false)
            expect(values).toContain(hashApiKey(key))
          }
        }))

      it.effect("a request must satisfy both its key's and its team's limits", () =>
        Effect.gen(function*() {
          const url = yield* server()
          yield* promise(async () => {
            const team = (await admin(url, "POST", "/admin/teams", { name: "team", rpm_limit: 3, models: ["m", "n"] })).json
            const limited = (await admin(url, "POST", "/admin/keys", { team_id: team.id, rpm_limit: 2 })).json.key
            const unlimited = (await admin(url, "POST", "/admin/keys", { team_id: team.id })).json.key

            expect((await complete(url, limited)).status).toBe(200)
            const second = await complete(url, limited)
            expect(second.status).toBe(200)
            // The key has 0 left and the team 1: the headers report the tighter one.
            expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0")
            expect(second.headers.get("x-ratelimit-limit-requests")).toBe("2")
            const byKey = await complete(url, limited)
            expect(byKey.status).toBe(429)
            expect(byKey.json.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" })
            expect(byKey.json.error.message).toContain("API key")

            expect((await complete(url, unlimited)).status).toBe(200) // team: 3 of 3
            const byTeam = await complete(url, unlimited)
            expect(byTeam.status).toBe(429)
            expect(byTeam.json.error.message).toContain("API team")
            expect(Number(byTeam.headers.get("retry-after"))).toBeGreaterThan(0)

            // The team's model list applies to its keys too.
            expect((await complete(url, (await admin(url, "POST", "/admin/keys", { team_id: team.id })).json.key, { model: "x" })).json.error).toMatchObject({
              code: "model_not_allowed"
            })
            // Deleting the team disables its keys.
            expect((await admin(url, "DELETE", `/admin/teams/${team.id}`)).json.deleted_at).not.toBeNull()
            expect((await complete(url, unlimited)).status).toBe(401)
            expect((await admin(url, "POST", "/admin/keys", { team_id: team.id })).status).toBe(400)
          })
        }))

      it.effect("expired keys are refused", () =>
        Effect.gen(function*() {
          const url = yield* server()
          yield* promise(async () => {
            const past = (await admin(url, "POST", "/admin/keys", { expires_at: new Date(Date.now() - 1000).toISOString() })).json
            const r = await complete(url, past.key)
            expect(r.status).toBe(401)
            expect(r.json.error.message).toContain("expired")
            // Extending it works at once.
            await admin(url, "PATCH", `/admin/keys/${past.id}`, { expires_at: null })
            expect((await complete(url, past.key)).status).toBe(200)

            // Expiry is checked on every request, not only when the key is (re)loaded into the cache.
            const soon = (await admin(url, "POST", "/admin/keys", { expires_at: new Date(Date.now() + 800).toISOString() })).json
            expect((await complete(url, soon.key)).status).toBe(200)
            await new Promise((resolve) => setTimeout(resolve, 900))
            expect((await complete(url, soon.key)).status).toBe(401)
            expect((await admin(url, "POST", "/admin/keys", { expires_at: "next tuesday" })).json.error.param).toBe("expires_at")
          })
        }))

      it.effect("a revoked key is refused within 1 s, on this instance and on another", () =>
        Effect.gen(function*() {
          const here = yield* server()
          // Another instance on the same database, with the key cache TTL that bounds its staleness.
          const there = yield* server({ keyCache: { ttl: "500 millis" } })
          yield* promise(async () => {
            const { id, key } = (await admin(here, "POST", "/admin/keys", {})).json
            expect((await complete(here, key)).status).toBe(200)
            expect((await complete(there, key)).status).toBe(200) // now cached there
            const revokedAt = performance.now()
            await admin(here, "DELETE", `/admin/keys/${id}`)
            expect((await complete(here, key)).status).toBe(401) // this instance: immediately
            let status = 200
            while (status === 200 && performance.now() - revokedAt < 2000) {
              status = (await complete(there, key)).status
              if (status === 200) await new Promise((resolve) => setTimeout(resolve, 50))
            }
            expect(status).toBe(401)
            expect(performance.now() - revokedAt).toBeLessThan(1000)
          })
        }))
    })
  })
}
