import { describe, expect, it } from "vitest"
import { blockChecksum } from "../../../src/engine/kv-transfer/block-checksum.ts"
import { InProcessKvConnector } from "../../../src/engine/kv-transfer/in-process-connector.ts"
import { KvTransferError, type KvTransfer } from "../../../src/engine/kv-transfer/kv-transfer.ts"
import { PendingTransfers } from "../../../src/engine/kv-transfer/pending-transfers.ts"

// The prefill side's waiting room: bounded in time and bytes, each transfer taken at most once.
const transfer = (id: string, blocks = 1, size = 64): KvTransfer => ({
  transferId: id,
  promptTokenIds: Array.from({ length: blocks * 4 }, (_, i) => i),
  firstTokenId: 1,
  rngState: [1, 2, 3, 4],
  cachedTokens: 0,
  geometry: { numLayers: 1, blockSize: 4, slotWidth: size / 32, dtype: "f32" },
  blocks: Array.from({ length: blocks }, (_, b) => {
    const bytes = new Uint8Array(size).fill(b + 1)
    return { bytes, checksum: blockChecksum(bytes) }
  })
})

describe("pending KV transfers", () => {
  it("a transfer is taken once; an unknown one is a not-found error naming it", () => {
    const p = new PendingTransfers()
    p.put(transfer("a"))
    expect(p.take("a").transferId).toBe("a")
    const e = (() => {
      try {
        p.take("a")
      } catch (err) {
        return err
      }
    })()
    expect(e).toBeInstanceOf(KvTransferError)
    expect((e as KvTransferError).notFound).toBe(true)
    expect((e as Error).message).toMatch(/no KV transfer "a" is pending/)
  })

  it("expires transfers nobody fetched, and drops the oldest past its byte budget", () => {
    let now = 0
    const p = new PendingTransfers({ ttlMs: 1000, maxBytes: 200, now: () => now })
    p.put(transfer("old"))
    now = 600
    p.put(transfer("young"))
    now = 1100
    expect(() => p.take("old")).toThrow(/expired after 1000 ms/)
    expect(p.take("young").transferId).toBe("young")
    p.put(transfer("x", 2)) // 128 bytes
    p.put(transfer("y", 2)) // 256 in all: x goes
    expect(p.size).toBe(1)
    expect(p.heldBytes).toBe(128)
    expect(() => p.take("x")).toThrow(/no KV transfer "x"/)
  })

  it("the in-process connector verifies checksums on fetch and releases on cancel", async () => {
    const c = new InProcessKvConnector()
    const t = transfer("t", 2)
    c.offer({ ...t, blocks: [t.blocks[0], { bytes: new Uint8Array(64), checksum: t.blocks[1].checksum }] })
    await expect(c.fetch("t")).rejects.toThrow(/block 1 fails its checksum/)
    c.offer({ ...t, blocks: [t.blocks[0]] })
    await expect(c.fetch("t")).rejects.toThrow(/truncated: 1 of 2 blocks/)
    c.offer(t)
    c.release("t")
    await expect(c.fetch("t")).rejects.toThrow(/no KV transfer "t"/)
    c.offer(t)
    expect((await c.fetch("t")).blocks).toHaveLength(2)
  })
})
