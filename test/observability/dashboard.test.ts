import { expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Ledger, ledgerLayer } from "../../src/ledger/ledger.ts"
import { parsePriceTable } from "../../src/ledger/price-table.ts"
import { requestObserverLayer } from "../../src/observability/request-observer.ts"
import { postgresSchemaLayer, tempDir } from "./support/ledger-database.ts"
import { observedServerLayer, postChat, serverUrl } from "./support/observed-server.ts"

const CHROMIUM = "/usr/bin/chromium"
const SCREENSHOTS = fileURLToPath(new URL("./__screenshots__", import.meta.url))
const prices = parsePriceTable({ default: { input: 3, cached_input: 1, output: 15 } })

it.skipIf(!fs.existsSync(CHROMIUM))("the /ui dashboard renders its charts in headless Chromium", () =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const observability = requestObserverLayer({ priceTable: prices }).pipe(Layer.provideMerge(ledgerLayer({ journalDir: tempDir("ui"), flushInterval: "100 millis" })))
    const ctx = yield* Layer.build(observedServerLayer().pipe(Layer.provideMerge(observability), Layer.provideMerge(postgresSchemaLayer())))
    const url = yield* serverUrl.pipe(Effect.provide(ctx))
    // Traffic through the server (latency, TTFT, cache hits) and spread over days and keys (spend charts).
    for (let i = 0; i < 12; i++) {
      yield* postChat(url, { model: "fake", messages: [{ role: "user", content: "And God said, Let there be light: and there was light. And God saw the light, that it was good." }], max_tokens: 6 })
    }
    yield* Effect.gen(function*() {
      const ledger = yield* Ledger
      for (let day = 0; day < 5; day++) {
        for (const [k, model] of [["key-a", "fake"], ["key-b", "other-model"]] as const) {
          const start = new Date(Date.now() - day * 86_400_000)
          yield* ledger.record({
            request_id: `hist-${day}-${k}`, client_request_id: null, key_id: k, key_prefix: `sk-inf-${k}`, team_id: k === "key-a" ? "team-a" : null, operation: "chat", model_group: model,
            deployment: "local", provider: "local", response_model: model, status: "ok", error_type: null,
            input_tokens: 1000 * (day + 1), cached_input_tokens: 200, output_tokens: 300 + 100 * day,
            cost: (1000 * (day + 1) * 3 + 300 * 15) / 1e6, start_time: start, first_token_time: new Date(start.getTime() + 20),
            end_time: new Date(start.getTime() + 200), cache_hit: true, tags: k === "key-a" ? ["batch", "eu"] : [], end_user: null, session_id: null, saved_cost: 0
          })
        }
      }
      yield* ledger.flush
    }).pipe(Effect.provide(ctx))

    // The spend API over the same data.
    const json = (p: string) => Effect.promise(() => fetch(url + p).then(async (r) => ({ status: r.status, body: await r.json() as any })))
    const report = yield* json("/spend/report?group_by=key")
    expect(report.body.totals.map((t: any) => t.group).sort()).toEqual(["key-a", "key-b"])
    const logs = yield* json("/spend/logs?key=key-a&limit=2")
    expect(logs.body.data.map((r: any) => r.key_id)).toEqual(["key-a", "key-a"])
    expect((yield* json("/spend/logs?model=other-model")).body.data).toHaveLength(5)
    expect((yield* json("/spend/report?group_by=nope")).body.error.param).toBe("group_by")
    const byTag = yield* json("/spend/report?group_by=tag")
    const keyA = report.body.totals.find((t: any) => t.group === "key-a").spend
    expect(byTag.body.totals.map((t: any) => [t.group, t.spend.toFixed(9)]).sort()).toEqual([["batch", keyA.toFixed(9)], ["eu", keyA.toFixed(9)]])

    const { chromium } = yield* Effect.promise(() => import("playwright-core"))
    const browser = yield* Effect.acquireRelease(
      Effect.promise(() => chromium.launchPersistentContext(tempDir("chromium-profile"), {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        viewport: { width: 1280, height: 1000 }
      })),
      (b) => Effect.promise(() => b.close())
    )
    const result = yield* Effect.promise(async () => {
      const page = await browser.newPage()
      const errors: Array<string> = []
      page.on("pageerror", (e) => errors.push(String(e)))
      await page.goto(`${url}/ui`)
      // Strings, not functions: they run in the page, and the project compiles without the DOM's types.
      await page.waitForFunction(`document.body.dataset.rendered === "true"`, null, { timeout: 20_000 })
      // Every chart drew something: some pixel of each canvas is not transparent.
      const painted: Array<{ id: string; opaque: number }> = await page.evaluate(`
        Array.from(document.querySelectorAll("canvas")).map((c) => {
          const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data
          let opaque = 0
          for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) opaque++
          return { id: c.id, opaque }
        })`)
      const status = await page.textContent("#status")
      fs.mkdirSync(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard.png"), fullPage: true })
      return { painted, status, errors }
    })
    expect(result.errors).toEqual([])
    expect(result.status).toContain("22 requests")
    expect(result.painted.map((p) => p.id)).toEqual(["spendOverTime", "spendByModel", "spendByKey", "spendByTeam", "spendByUser", "scores", "latency", "cache", "engine"])
    for (const p of result.painted) expect(p.opaque, p.id).toBeGreaterThan(500)
  }))))
