import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type { BudgetAlert } from "../../src/budgets/budget-alert.ts"
import { periodEnd, periodStart } from "../../src/budgets/budget-period.ts"
import { memoryBudgetStore, SpendReadError, type BudgetStore } from "../../src/budgets/budget-store.ts"
import { Budgets, budgetsMemoryLayer } from "../../src/budgets/budgets.ts"
import { fromGatewayError } from "../../src/http/error-mapping.ts"
import { keyPrincipal, keyRecord, teamRecord } from "./support/principals.ts"

/** A webhook receiver on 127.0.0.1 collecting the alerts POSTed to it. */
const webhook = Effect.acquireRelease(
  Effect.promise(() => new Promise<{ url: string; alerts: Array<BudgetAlert>; server: http.Server }>((resolve) => {
    const alerts: Array<BudgetAlert> = []
    const server = http.createServer((req, res) => {
      let body = ""
      req.on("data", (c) => (body += c))
      req.on("end", () => {
        alerts.push(JSON.parse(body))
        res.end()
      })
    })
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, alerts, server }))
  })),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
)

const waitFor = (check: () => boolean) => Effect.promise(async () => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
})

describe("budget periods", () => {
  it("start at the UTC day, the ISO week's Monday and the month", () => {
    const t = Date.parse("2026-03-19T15:30:00Z") // a Thursday
    expect(periodStart("daily", t).toISOString()).toBe("2026-03-19T00:00:00.000Z")
    expect(periodStart("weekly", t).toISOString()).toBe("2026-03-16T00:00:00.000Z")
    expect(periodStart("monthly", t).toISOString()).toBe("2026-03-01T00:00:00.000Z")
    expect(periodEnd("monthly", t)?.toISOString()).toBe("2026-04-01T00:00:00.000Z")
    expect(periodStart(null, t).getTime()).toBe(0)
  })
})

describe("budgets", () => {
  it.live("fire each threshold once, to the webhook, and refuse once the hard budget is spent", () =>
    Effect.gen(function*() {
      const hook = yield* webhook
      const team = teamRecord("team-1", { soft_budget: 0.3 })
      const principal = keyPrincipal(keyRecord("key-1", { max_budget: 1 }, team.id), team)
      yield* Effect.gen(function*() {
        const budgets = yield* Budgets
        yield* budgets.check(principal)
        for (let i = 0; i < 12; i++) yield* budgets.charge(principal, 0.1) // 0.1 ... 1.2
        const refused = yield* Effect.flip(budgets.check(principal))
        expect(fromGatewayError(refused).status).toBe(400)
        expect(refused.code).toBe("budget_exceeded")
        expect(refused.message).toContain("budget of 1")
      }).pipe(Effect.provide(budgetsMemoryLayer({ webhookUrl: hook.url })))
      yield* waitFor(() => hook.alerts.length >= 4)
      const fired = hook.alerts.map((a) => `${a.subject_kind}:${a.threshold}`).sort()
      expect(fired).toEqual(["key:100%", "key:50%", "key:80%", "team:soft"])
    }))

  it.effect("reset with the period (TestClock) and alert again in the new period", () =>
    Effect.gen(function*() {
      const claimed: Array<string> = []
      const store = memoryBudgetStore()
      const counting = { ...store, claimAlert: (a: BudgetAlert) => Effect.tap(store.claimAlert(a), (ok) => Effect.sync(() => ok && claimed.push(`${a.period_start} ${a.threshold}`))) }
      const principal = keyPrincipal(keyRecord("key-2", { max_budget: 2, budget_duration: "daily" }))
      yield* Effect.gen(function*() {
        const budgets = yield* Budgets
        yield* budgets.charge(principal, 2.5)
        expect((yield* Effect.flip(budgets.check(principal))).code).toBe("budget_exceeded")
        yield* budgets.charge(principal, 1) // no threshold is crossed twice in a period
        expect(claimed).toHaveLength(3)
        yield* TestClock.adjust("1 day")
        yield* budgets.check(principal) // a new day: spend starts from 0
        expect(yield* budgets.spent("key", "key-2", "daily")).toBe(0)
        yield* budgets.charge(principal, 1.1)
        expect(claimed.slice(3)).toEqual(["1970-01-02T00:00:00.000Z 50%"])
      }).pipe(Effect.provide(budgetsMemoryLayer({}, counting)))
    }))

  it.effect("do nothing for the master key, keys off, or keys without budgets", () =>
    Effect.gen(function*() {
      const budgets = yield* Budgets
      yield* budgets.charge({ _tag: "Master" }, 100)
      yield* budgets.check({ _tag: "Master" })
      yield* budgets.check({ _tag: "AuthOff" })
      yield* budgets.charge(keyPrincipal(keyRecord("k3")), 100)
      yield* budgets.check(keyPrincipal(keyRecord("k3")))
    }).pipe(Effect.provide(budgetsMemoryLayer())))

  it.effect("a spend read that fails is not taken as 0: 503 budget_unavailable, not cached, read again on the next check", () =>
    Effect.gen(function*() {
      let failing = true
      let reads = 0
      const store: BudgetStore = {
        ...memoryBudgetStore(() => 5),
        spentSince: () => Effect.suspend(() => (reads++, failing ? Effect.fail(new SpendReadError({ cause: "database down" })) : Effect.succeed(5)))
      }
      const principal = keyPrincipal(keyRecord("key-r", { max_budget: 4 }))
      yield* Effect.gen(function*() {
        const budgets = yield* Budgets
        const refused = yield* Effect.flip(budgets.check(principal))
        expect([refused.reason, refused.code, refused.retryAfterMs]).toEqual(["unavailable", "budget_unavailable", 1000])
        yield* budgets.charge(principal, 1) // nothing known to add it to: the ledger row has it
        expect(reads).toBe(2)
        failing = false
        const exceeded = yield* Effect.flip(budgets.check(principal))
        expect([exceeded.reason, exceeded.code]).toEqual(["budget_exceeded", "budget_exceeded"])
        expect(reads).toBe(3)
        yield* budgets.check(principal).pipe(Effect.flip) // known now: no read
        expect(reads).toBe(3)
      }).pipe(Effect.provide(budgetsMemoryLayer({}, store)))
    }))
})
