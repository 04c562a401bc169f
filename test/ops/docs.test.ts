import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "../support/models.ts"
import { registeredRoutes } from "../support/registered-routes.ts"

/**
 * Problem 2 of the operations issue: with keys on, a browser opening /docs gets the page, and the
 * document it renders covers every route the server has, each with who may call it and the refusals
 * (401, 403, 429) a client must expect. Through the real CLI process.
 */
const MASTER = "sk-master-docs-test"
let serve: ServeProcess
let url: string
let doc: any

beforeAll(async () => {
  serve = spawnServe([testModelDir(), "--port", "0", "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER })
  url = await servedUrl(serve)
}, 60_000)
afterAll(async () => {
  serve.child.kill("SIGTERM")
  await serve.exited
})

describe("problem 2: /docs and /openapi.json with keys on", () => {
  it("a browser without a key gets the docs page and the document", async () => {
    const page = await fetch(`${url}/docs`, { headers: { accept: "text/html" } })
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    const r = await fetch(`${url}/openapi.json`)
    expect(r.status).toBe(200)
    doc = await r.json()
    expect(doc.openapi).toBe("3.1.0")
  })

  it("documents every route the server registers, admin, spend, router and dashboard included", () => {
    const documented = new Set(Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)))
    const routes = registeredRoutes()
    expect(routes.length).toBeGreaterThan(20)
    for (const r of routes) expect(documented.has(`${r.method} ${r.path}`), `${r.method} ${r.path}`).toBe(true)
    for (const p of ["/admin/keys", "/admin/teams/{id}", "/spend/logs", "/router/deployments", "/ui", "/ui/data"]) expect(doc.paths[p], p).toBeDefined()
  })

  it("every operation says who may call it, and the server agrees", async () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
    const { key } = await (await fetch(`${url}/admin/keys`, { method: "POST", headers: { authorization: `Bearer ${MASTER}` }, body: JSON.stringify({ name: "docs" }) })).json() as { key: string }
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${p}`
        expect(Array.isArray(op.security), where).toBe(true)
        const isPublic = op.security.length === 0
        if (!isPublic) expect(op.responses["401"], where).toBeDefined()
        // GET routes without path parameters are called: public ones answer without a key, the others refuse it.
        if (method !== "get" || p.includes("{") || p === "/v1/ws") continue
        const anonymous = await fetch(`${url}${p}`)
        await anonymous.arrayBuffer()
        if (isPublic) expect(anonymous.status, where).toBe(200)
        else expect(anonymous.status, where).toBe(401)
        if (op.responses["403"] !== undefined && op.tags[0] !== "OpenAI") {
          const withKey = await fetch(`${url}${p}`, { headers: { authorization: `Bearer ${key}` } })
          await withKey.arrayBuffer()
          expect(withKey.status, `${where} with an API key`).toBe(403)
        }
      }
    }
    expect(doc.paths["/v1/chat/completions"].post.responses["429"]).toBeDefined()
    expect(doc.paths["/v1/chat/completions"].post.responses["403"]).toBeDefined()
  })

  it.skipIf(!fs.existsSync("/usr/bin/chromium"))("the page, opened in a browser without a key, renders every route with the key it needs", async () => {
    const { chromium } = await import("playwright-core")
    const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "inferline-docs-")), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
    try {
      const page = await browser.newPage()
      await page.goto(`${url}/docs`)
      await page.waitForFunction(`document.querySelectorAll("#endpoints section").length > 20`, null, { timeout: 20_000 })
      const sections: Array<string> = await page.evaluate(`Array.from(document.querySelectorAll("#endpoints section")).map((s) => s.textContent)`)
      const operations = Object.values(doc.paths as Record<string, Record<string, unknown>>).reduce((n, ops) => n + Object.keys(ops).length, 0)
      expect(sections).toHaveLength(operations)
      const adminKeys = sections.find((t) => t.startsWith("POST/admin/keys"))!
      expect(adminKeys).toContain("master key")
      const metrics = sections.find((t) => t.startsWith("GET/metrics"))!
      expect(metrics).toContain("authorization: Bearer $INFERLINE_API_KEY")
      expect(sections.find((t) => t.startsWith("GET/health/liveness"))).toContain("no key")
    } finally {
      await browser.close()
    }
  })
})
