import { describe, expect, it } from "vitest"
import { resolveServeConfig } from "../../src/cli.ts"

const resolve = (args: Array<string>, env: Record<string, string> = {}) => {
  const config = resolveServeConfig(args, env, "/srv")
  if (config === "help") throw new Error("unexpected help")
  return config
}

describe("inferline serve: disaggregated prefill/decode options", () => {
  it("off by default: a colocated engine", () => {
    expect(resolve([]).engine.kvTransfer).toBeUndefined()
  })

  it("--kv-role prefill listens on --kv-transfer-port, --kv-role decode fetches from --kv-peer", () => {
    expect(resolve(["--kv-role", "prefill"]).engine.kvTransfer).toEqual({ role: "prefill", host: "127.0.0.1", port: 14579 })
    expect(resolve(["--kv-role", "prefill", "--kv-transfer-host", "0.0.0.0", "--kv-transfer-port", "9100", "--kv-transfer-timeout", "5"]).engine.kvTransfer)
      .toEqual({ role: "prefill", host: "0.0.0.0", port: 9100, ttlMs: 5000 })
    expect(resolve(["--kv-role", "decode", "--kv-peer", "10.0.0.2:9100"]).engine.kvTransfer).toEqual({ role: "decode", peerHost: "10.0.0.2", peerPort: 9100 })
    expect(resolve([], { INFERLINE_KV_ROLE: "decode", INFERLINE_KV_PEER: "[::1]:9100" }).engine.kvTransfer).toEqual({ role: "decode", peerHost: "::1", peerPort: 9100 })
  })

  it("a flag without its role, or with the other role, is refused by name", () => {
    expect(() => resolve(["--kv-role", "both"])).toThrow(/--kv-role: expected one of prefill, decode/)
    expect(() => resolve(["--kv-transfer-port", "9100"])).toThrow(/--kv-transfer-port needs --kv-role/)
    expect(() => resolve(["--kv-peer", "h:1"])).toThrow(/--kv-peer needs --kv-role/)
    expect(() => resolve(["--kv-role", "decode"])).toThrow(/--kv-role decode needs --kv-peer HOST:PORT/)
    expect(() => resolve(["--kv-role", "decode", "--kv-peer", "h:1", "--kv-transfer-port", "9100"])).toThrow(/--kv-transfer-port is for --kv-role prefill/)
    expect(() => resolve(["--kv-role", "prefill", "--kv-peer", "h:1"])).toThrow(/--kv-peer is for --kv-role decode/)
    expect(() => resolve(["--kv-role", "decode", "--kv-peer", "nohost"])).toThrow(/--kv-peer: expected HOST:PORT/)
  })
})
