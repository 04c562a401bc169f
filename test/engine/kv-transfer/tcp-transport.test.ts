import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { KvConsumer, KvProducer } from "../../../src/engine/kv-transfer/kv-connector.ts"
import { KvTransferError, type KvTransfer } from "../../../src/engine/kv-transfer/kv-transfer.ts"
import { TcpKvClient } from "../../../src/engine/kv-transfer/tcp-kv-client.ts"
import { TcpKvServer } from "../../../src/engine/kv-transfer/tcp-kv-server.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../../../src/engine/sampling-params.ts"
import { arrivalEvents, coreWithCache, expectColocatedTokens, runColocated, runPair } from "../../support/disaggregated-pair.ts"
import { bundledModelDir } from "../../support/models.ts"
import { prefixedPrompt, randomArrivals } from "../../support/arrivals.ts"
import { prng } from "../../support/random-model.ts"

// The prefill side's KV server and the decode side's client on real sockets: outputs equal colocated
// ones, and a transfer corrupted, cut short or stalled on the wire is a clear error, never a hang.
const model = loadModelDir(bundledModelDir)
const tok = model.tokenizer!
const prompt = tok.encode("And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.")

let server: TcpKvServer
let port = 0
beforeAll(async () => {
  server = new TcpKvServer()
  port = await server.listen(0)
})
afterAll(() => server.close())

/** A prefilled transfer of `prompt` (35 tokens: 3 blocks of 64 KiB, the bundled model's f32 KV of 16 tokens). */
const prefilled = (id: string): KvTransfer => {
  const { core, executor } = coreWithCache(model, 16)
  core.add({ id, promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 8 }), kvExport: id })
  return core.step(executor, 0)[0].kvTransfer!
}

/**
 * A man in the middle on the producer's replies: `mutate` sees each chunk with the number of bytes
 * that passed before it and returns what to forward, or null to cut the connection there.
 */
const proxy = async (mutate: (chunk: Buffer, offset: number) => Buffer | null) => {
  const p = net.createServer((down) => {
    const up = net.connect({ host: "127.0.0.1", port })
    let offset = 0
    down.on("data", (d) => up.write(d))
    up.on("data", (d: Buffer) => {
      const out = mutate(Buffer.from(d), offset)
      offset += d.length
      if (out === null) {
        up.destroy()
        down.destroy()
      } else down.write(out)
    })
    up.on("end", () => down.end())
    up.on("error", () => down.destroy())
    down.on("error", () => up.destroy())
  })
  await new Promise<void>((r) => p.listen(0, "127.0.0.1", () => r()))
  return { port: (p.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => p.close(() => r())) }
}

describe("KV transfer over TCP", () => {
  it("greedy and seeded outputs equal colocated ones, prefill and decode talking over a socket", async () => {
    const client = new TcpKvClient({ host: "127.0.0.1", port })
    const connector: KvProducer & KvConsumer = { offer: server.offer, release: server.release, fetch: client.fetch }
    const requests = [
      { id: "g1", promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 0, maxTokens: 20, ignoreEos: true }) },
      { id: "g2", promptTokenIds: prompt.slice(0, 17), params: defaultSamplingParams({ temperature: 0, maxTokens: 12, ignoreEos: true }) },
      { id: "s1", promptTokenIds: prompt.slice(0, 30), params: defaultSamplingParams({ temperature: 0.8, seed: 5, maxTokens: 25, ignoreEos: true }) }
    ]
    const run = await runPair(coreWithCache(model, 32), coreWithCache(model, 32), connector, (step, add) => {
      if (step < requests.length) add(requests[step])
    }, requests.length)
    for (const r of requests) expect(run.tokens.get(r.id), r.id).toEqual(runColocated(model, r).tokens)
    expect(server.pending.size).toBe(0)
  })

  it("exactness under load over the socket: random arrivals, lengths and aborts, decode-side preemptions", async () => {
    const client = new TcpKvClient({ host: "127.0.0.1", port })
    const connector: KvProducer & KvConsumer = { offer: server.offer, release: server.release, fetch: client.fetch }
    const rand = prng(2123)
    const V = model.config.vocabSize
    const specs = randomArrivals(rand, () => prefixedPrompt(rand, prompt, 3, 40, V), { count: 16, idPrefix: "t", minTokens: 2, tokenSpan: 40, arriveWithin: 25, abortChance: 0.25, abortWithin: 40 })
    const decode = coreWithCache(model, 14)
    const run = await runPair(coreWithCache(model, 24, { scheduler: { maxNumBatchedTokens: 128, longPrefillTokenThreshold: 40 } }), decode, connector, arrivalEvents(specs), 40)
    expect(decode.core.scheduler.numPreemptions).toBeGreaterThan(0)
    expect(expectColocatedTokens(model, specs, run)).toBeGreaterThan(8)
    expect(decode.core.kv.pool.usage).toBe(0)
    expect(server.pending.size).toBe(0)
  })

  it("a transfer is fetched once: asking again is a clear error naming it", async () => {
    server.offer(prefilled("once"))
    const client = new TcpKvClient({ host: "127.0.0.1", port })
    expect((await client.fetch("once")).blocks.length).toBe(3)
    await expect(client.fetch("once")).rejects.toThrow(/refused transfer once: no KV transfer "once" is pending/)
  })

  it("a byte flipped inside a block fails that block's checksum", async () => {
    server.offer(prefilled("flip"))
    // Past the header (a few hundred bytes), inside the first block's 64 KiB.
    const p = await proxy((chunk, offset) => {
      const at = 4000 - offset
      if (at >= 0 && at < chunk.length) chunk[at] ^= 0x40
      return chunk
    })
    const err = await new TcpKvClient({ host: "127.0.0.1", port: p.port }).fetch("flip").catch((e: unknown) => e)
    await p.close()
    expect(err).toBeInstanceOf(KvTransferError)
    expect((err as Error).message).toMatch(/block 0 fails its checksum/)
  })

  it("a corrupt frame length is refused at once, not waited for", async () => {
    server.offer(prefilled("len"))
    // The first frame's length field (bytes 1-4): its top byte set makes it ~2 GB.
    const p = await proxy((chunk, offset) => {
      if (offset === 0) chunk[1] = 0x7f
      return chunk
    })
    const started = Date.now()
    const err = await new TcpKvClient({ host: "127.0.0.1", port: p.port }).fetch("len").catch((e: unknown) => e)
    await p.close()
    expect((err as Error).message).toMatch(/corrupt KV transfer stream: a frame of \d+ bytes/)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it("a connection cut mid-transfer is a truncation error naming how far it got", async () => {
    server.offer(prefilled("cut"))
    // Cut 150,000 bytes in: past two block frames (65,549 bytes each after a header under 1 KiB).
    const CUT = 150_000
    const p = await proxy((chunk, offset) => (offset + chunk.length <= CUT ? chunk : offset < CUT ? chunk.subarray(0, CUT - offset) : null))
    const err = await new TcpKvClient({ host: "127.0.0.1", port: p.port }).fetch("cut").catch((e: unknown) => e)
    await p.close()
    expect((err as Error).message).toMatch(/truncated: the connection to 127\.0\.0\.1:\d+ closed after 2 of 3 blocks/)
  })

  it("a producer that goes silent fails after the idle timeout", async () => {
    const silent = net.createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()))
    const silentPort = (silent.address() as net.AddressInfo).port
    const err = await new TcpKvClient({ host: "127.0.0.1", port: silentPort, idleTimeoutMs: 300 }).fetch("x").catch((e: unknown) => e)
    silent.close()
    expect((err as Error).message).toMatch(/no data for 300 ms/)
  })

  it("an unreachable producer is an error naming its address", async () => {
    const closed = net.createServer()
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()))
    const closedPort = (closed.address() as net.AddressInfo).port
    await new Promise<void>((r) => closed.close(() => r()))
    await expect(new TcpKvClient({ host: "127.0.0.1", port: closedPort }).fetch("x")).rejects.toThrow(new RegExp(`cannot reach the KV producer at 127.0.0.1:${closedPort}`))
  })
})
