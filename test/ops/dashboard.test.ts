import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { testModelDir } from "../support/models.ts"

/**
 * Problem 8 of the operations issue, through the real CLI on a fresh embedded database (one day of
 * data): the dashboard names keys and teams, counts traffic without a key, says what range its data
 * covers, draws one day as bars, and remembers the master key.
 */
const MASTER = "sk-master-dashboard"
const CHROMIUM = "/usr/bin/chromium"
const admin = { authorization: `Bearer ${MASTER}`, "content-type": "application/json" }
let serve: ServeProcess
let url: string

beforeAll(async () => {
  serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "kjv", "--disable-log-requests"], { INFERLINE_MASTER_KEY: MASTER, DATABASE_URL: "", INFERLINE_LEDGER_FLUSH_MS: "50" })
  url = await servedUrl(serve)
  const team = (await (await fetch(`${url}/admin/teams`, { method: "POST", headers: admin, body: JSON.stringify({ name: "search" }) })).json()) as { id: string }
  const { key } = (await (await fetch(`${url}/admin/keys`, { method: "POST", headers: admin, body: JSON.stringify({ name: "ci-key", team_id: team.id }) })).json()) as { key: string }
  const chat = (bearer: string) =>
    fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { ...admin, authorization: `Bearer ${bearer}` }, body: JSON.stringify({ model: "kjv", messages: [{ role: "user", content: "In the beginning" }], max_tokens: 3 }) })
  for (const bearer of [key, key, MASTER]) expect((await chat(bearer)).status).toBe(200)
}, 90_000)
afterAll(async () => {
  serve.child.kill("SIGTERM")
  await serve.exited
})

const uiData = async () => (await (await fetch(`${url}/ui/data`, { headers: admin })).json()) as any

describe("problem 8: the dashboard", () => {
  it("names keys and teams, includes traffic without a key, and says where its data starts", async () => {
    await waitFor("the three requests in the ledger", async () => (await uiData()).ledger?.requests === 3)
    const { ledger } = await uiData()
    expect(ledger.spend_by_key.map((r: any) => [r.name, r.requests])).toEqual(expect.arrayContaining([["ci-key", 2], ["(no key)", 1]]))
    expect(ledger.spend_by_team.map((r: any) => [r.name, r.requests])).toEqual([["search", 2]])
    expect(Date.now() - Date.parse(ledger.first_request_at)).toBeLessThan(120_000)
  })

  it.skipIf(!fs.existsSync(CHROMIUM))("in a browser: one day as bars, the range it covers, the master key asked for once", async () => {
    const { chromium } = await import("playwright-core")
    const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "inferline-ui-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
    try {
      const page = await browser.newPage()
      await page.goto(`${url}/ui`)
      await page.waitForSelector("#login", { state: "visible" })
      await page.fill("#key", MASTER)
      await page.press("#key", "Enter")
      await page.waitForFunction(`document.body.dataset.rendered === "true"`, null, { timeout: 20_000 })
      expect(await page.evaluate(`Chart.getChart("spendOverTime").config.type`)).toBe("bar")
      const status = await page.textContent("#status")
      expect(status).toContain("3 requests since")
      expect(status).not.toContain("14 days")
      expect(await page.evaluate(`Chart.getChart("spendByKey").data.labels`)).toEqual(expect.arrayContaining(["ci-key", "(no key)"]))
      // Opened again, it uses the key it kept: no form.
      const again = await browser.newPage()
      await again.goto(`${url}/ui`)
      await again.waitForFunction(`document.body.dataset.rendered === "true"`, null, { timeout: 20_000 })
      expect(await again.isVisible("#login")).toBe(false)
    } finally {
      await browser.close()
    }
  })
})
