import { it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { describe, expect } from "vitest"
import { API_KEY_PREFIX } from "../../src/gateway/api-key.ts"
import { gatewayTestLayer } from "../../src/gateway/layers.ts"
import { adminRouteTable } from "../../src/http/gateway/admin-routes.ts"
import { admin, call, complete, MASTER_KEY, rawRequest } from "./support/http.ts"
import { serveGateway } from "./support/test-server.ts"

// Keys on (a master key is configured); every way of not presenting a valid key must fail, with the
// status and OpenAI error body a client expects, and no key may reach the logs.

/** Every log line written while the suite's server runs, to check that no secret reaches them. */
const logLines: Array<string> = []
const capturingLogger = Logger.layer([Logger.map(Logger.formatJson, (line) => void logLines.push(line))])

const withServer = <A>(f: (url: string) => Promise<A>) =>
  Effect.gen(function*() {
    const { url } = yield* serveGateway(gatewayTestLayer({ masterKey: MASTER_KEY }), { logRequests: true })
    return yield* Effect.promise(() => f(url))
  }).pipe(Effect.provide(capturingLogger))

const expectInvalidKey = (r: { status: number; json: any }) => {
  expect(r.status).toBe(401)
  expect(r.json.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key" })
}

describe("authentication cannot be bypassed", () => {
  it.live("rejects missing, malformed, foreign and wrong keys", () =>
    withServer(async (url) => {
      const { json: created } = await admin(url, "POST", "/admin/keys", { name: "valid" })
      const validKey: string = created.key
      expect((await complete(url, validKey)).status).toBe(200)

      const wrongBody = API_KEY_PREFIX + "A".repeat(validKey.length - API_KEY_PREFIX.length)
      const attempts: Array<[string, Record<string, string>]> = [
        ["no header", {}],
        ["Basic scheme", { authorization: `Basic ${Buffer.from(`user:${validKey}`).toString("base64")}` }],
        ["Bearer without a key", { authorization: "Bearer" }],
        ["Bearer and spaces", { authorization: "Bearer    " }],
        ["scheme only, key without scheme", { authorization: validKey }],
        ["key of another prefix", { authorization: `Bearer sk-proj-${validKey.slice(API_KEY_PREFIX.length)}` }],
        ["right prefix, wrong body", { authorization: `Bearer ${wrongBody}` }],
        ["right key with a suffix", { authorization: `Bearer ${validKey}x` }],
        ["truncated key", { authorization: `Bearer ${validKey.slice(0, -1)}` }],
        ["empty x-api-key", { "x-api-key": "" }],
        ["wrong x-api-key", { "x-api-key": wrongBody }],
        ["x-api-key disagreeing with Authorization", { authorization: `Bearer ${wrongBody}`, "x-api-key": validKey }],
        ["valid key after a wrong one in Authorization", { authorization: `Bearer ${wrongBody} ${validKey}` }],
        ["overly long header", { authorization: `Bearer ${validKey}${"A".repeat(4000)}` }]
      ]
      for (const [name, headers] of attempts) {
        const r = await call(url, "POST", "/v1/test/completions", { headers, body: { model: "m" } })
        expect(r.status, name).toBe(401)
        expectInvalidKey(r)
      }
      // Both headers with the same key are fine; x-api-key alone is fine.
      expect((await call(url, "POST", "/v1/test/completions", { headers: { authorization: `Bearer ${validKey}`, "x-api-key": validKey }, body: { model: "m" } })).status).toBe(200)
      expect((await call(url, "POST", "/v1/test/completions", { headers: { "x-api-key": validKey }, body: { model: "m" } })).status).toBe(200)
      // Only the secret matters, not how it is spelt around: a lower-case scheme is still Bearer.
      expect((await call(url, "POST", "/v1/test/completions", { headers: { authorization: `bearer ${validKey}` }, body: { model: "m" } })).status).toBe(200)

      // A revoked key and the master key's neighbours.
      await admin(url, "DELETE", `/admin/keys/${created.id}`)
      expectInvalidKey(await complete(url, validKey))
      expectInvalidKey(await complete(url, MASTER_KEY + "x"))
      expectInvalidKey(await complete(url, MASTER_KEY.slice(0, -1)))

      // Nothing secret was logged (every request is logged, refusals included).
      const logs = logLines.join("\n")
      expect(logs).toContain("/v1/test/completions")
      expect(logs).not.toContain(validKey.slice(API_KEY_PREFIX.length))
      expect(logs).not.toContain(MASTER_KEY)
    })
  )

  it.live("refuses header injection, repeated credentials and oversized headers", () =>
    withServer(async (url) => {
      const { json: created } = await admin(url, "POST", "/admin/keys", {})
      const key: string = created.key
      const other: string = (await admin(url, "POST", "/admin/keys", {})).json.key
      const host = `Host: ${new URL(url).host}\r\nConnection: close\r\nContent-Type: application/json\r\n`
      const body = JSON.stringify({ model: "m" })
      const request = (headers: string) =>
        rawRequest(url, `POST /v1/test/completions HTTP/1.1\r\n${host}Content-Length: ${body.length}\r\n${headers}`, body)

      expect(await request(`Authorization: Bearer ${key}\r\n`)).toBe(200)
      // Two Authorization headers (Node would silently keep the first): refused, whichever is valid.
      expect(await request(`Authorization: Bearer ${key}\r\nAuthorization: Bearer ${other}\r\n`)).toBe(401)
      expect(await request(`Authorization: Bearer sk-inf-wrong\r\nAuthorization: Bearer ${key}\r\n`)).toBe(401)
      expect(await request(`x-api-key: ${key}\r\nx-api-key: ${key}\r\n`)).toBe(401)
      // A bare LF or CR inside a header value, or obs-fold continuation lines: the HTTP parser rejects
      // the request before any handler runs (400), so a split header can never smuggle a credential.
      expect(await request(`Authorization: Bearer ${key}\nX-Injected: 1\r\n`)).toBe(400)
      expect(await request(`Authorization: Bearer \r${key}\r\n`)).toBe(400)
      expect(await request(`Authorization: Bearer\r\n ${key}\r\n`)).toBe(400)
      // Control characters in the value.
      expect(await request(`Authorization: Bearer ${key}\x00\r\n`)).toBe(400)
      // A header larger than Node's limit (16 KiB): 431 from the parser.
      expect(await request(`Authorization: Bearer ${key}${"A".repeat(20_000)}\r\n`)).toBe(431)
    })
  )

  it.live("admin routes need the master key; an API key gets 403", () =>
    withServer(async (url) => {
      const { json: created } = await admin(url, "POST", "/admin/keys", {})
      for (const [method, path] of [["GET", "/admin/keys"], ["POST", "/admin/keys"], ["POST", "/admin/teams"], ["DELETE", `/admin/keys/${created.id}`]]) {
        const r = await call(url, method, path, { key: created.key, body: method === "POST" ? {} : undefined })
        expect(r.status, `${method} ${path}`).toBe(403)
        expect(r.json.error).toMatchObject({ type: "invalid_request_error", code: "insufficient_permissions" })
      }
      // The key still works where it should, and was not revoked by the attempt.
      expect((await complete(url, created.key)).status).toBe(200)
    })
  )

  it.live("no route but /health answers without a key", () =>
    withServer(async (url) => {
      const routes = [
        ...adminRouteTable.map((r) => [r.method, r.path] as const),
        ["POST", "/v1/test/completions"] as const
      ]
      expect(routes.length).toBe(16) // keys 5, teams 5, end users 5, and a model route
      const id = "00000000-0000-4000-8000-000000000000"
      for (const [method, path] of routes) {
        const r = await call(url, method, path.replace(":id", id), { body: method === "POST" || method === "PATCH" ? {} : undefined })
        expect(r.status, `${method} ${path}`).toBe(401)
        expectInvalidKey(r)
      }
      expect((await call(url, "GET", "/health")).status).toBe(200)
    })
  )

  it.live("echoes a sane x-request-id, replaces others, and always sends the server's own id", () =>
    withServer(async (url) => {
      const sane = "abc-123_X.y"
      const echoed = await call(url, "GET", "/health", { headers: { "x-request-id": sane } })
      expect(echoed.headers.get("x-request-id")).toBe(sane)
      expect(echoed.headers.get("x-inferline-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
      for (const bad of ["a b", "x".repeat(129), "<script>", "id;drop"]) {
        const r = await call(url, "GET", "/health", { headers: { "x-request-id": bad } })
        expect(r.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
        expect(r.headers.get("x-request-id")).toBe(r.headers.get("x-inferline-request-id"))
      }
      // Also on refusals.
      expect((await complete(url, undefined)).headers.get("x-request-id")).toMatch(/^req_/)
    })
  )
})
