import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { decideBind, isLoopbackHost, resolveBindHost } from "../../src/gateway/bind-policy.ts"

describe("secure by default: no master key, loopback only", () => {
  it("knows loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) expect(isLoopbackHost(host), host).toBe(true)
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "128.0.0.1", "::ffff:10.0.0.1", "2001:db8::1"]) expect(isLoopbackHost(host), host).toBe(false)
  })

  it("refuses a public bind without a master key, with a message saying what to do", () => {
    const refused = decideBind({ host: "0.0.0.0", masterKeyConfigured: false })
    expect(refused._tag).toBe("Refused")
    if (refused._tag === "Refused") expect(refused.message).toContain("INFERLINE_MASTER_KEY")
  })

  it("defaults to loopback, and warns that keys are off", () => {
    const allowed = decideBind({ host: undefined, masterKeyConfigured: false, defaultHost: "0.0.0.0" })
    expect(allowed).toMatchObject({ _tag: "Allowed", host: "127.0.0.1" })
    if (allowed._tag === "Allowed") expect(allowed.warning).toContain("keys are off")
  })

  it("with a master key, binds where asked", () => {
    expect(decideBind({ host: "0.0.0.0", masterKeyConfigured: true })).toEqual({ _tag: "Allowed", host: "0.0.0.0" })
    expect(decideBind({ host: undefined, masterKeyConfigured: true, defaultHost: "0.0.0.0" })).toEqual({ _tag: "Allowed", host: "0.0.0.0" })
  })

  it("resolveBindHost fails startup with the refusal's message", () => {
    const exit = Effect.runSyncExit(resolveBindHost({ host: "::", masterKeyConfigured: false }))
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("Refusing to listen on ::")
    expect(Effect.runSync(resolveBindHost({ host: undefined, masterKeyConfigured: false }))).toBe("127.0.0.1")
  })
})
