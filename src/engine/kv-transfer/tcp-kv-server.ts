import * as net from "node:net"
import type { KvProducer } from "./kv-connector.ts"
import { KvTransferError } from "./kv-transfer.ts"
import { PendingTransfers, type PendingTransfersOptions } from "./pending-transfers.ts"
import { encodeBlockFrame, encodeFrame, encodeUint32, FrameReader, FrameType, type TransferHeader } from "./tcp-frames.ts"

const MAX_FETCH_BYTES = 1024

/**
 * The prefill side's end of the TCP transport (--kv-transfer-port): finished prefills wait in memory
 * until a decode server connects and fetches one by id; it is sent header first, then block by block
 * (each checksummed), written as the socket drains so a large prompt is never one buffer.
 */
export class TcpKvServer implements KvProducer {
  readonly pending: PendingTransfers
  private readonly server: net.Server
  private readonly sockets = new Set<net.Socket>()

  constructor(options: PendingTransfersOptions = {}) {
    this.pending = new PendingTransfers(options)
    this.server = net.createServer((socket) => this.serve(socket))
  }

  readonly offer: KvProducer["offer"] = (t) => this.pending.put(t)

  readonly release: KvProducer["release"] = (id) => this.pending.delete(id)

  /** Listens; resolves with the port (0 picks a free one). */
  listen(port: number, host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject)
      this.server.listen(port, host, () => {
        this.server.off("error", reject)
        resolve((this.server.address() as net.AddressInfo).port)
      })
    })
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket)
    socket.on("close", () => this.sockets.delete(socket))
    socket.on("error", () => socket.destroy())
    // A peer that connects and sends nothing is dropped, not kept forever.
    socket.setTimeout(30_000, () => socket.destroy())
    const reader = new FrameReader(() => MAX_FETCH_BYTES)
    let started = false
    socket.on("data", (chunk: Buffer) => {
      if (started) return
      let frames
      try {
        frames = reader.push(chunk)
      } catch (e) {
        return this.fail(socket, (e as Error).message)
      }
      if (frames.length === 0) return
      started = true
      if (frames[0].type !== FrameType.Fetch) return this.fail(socket, `expected a FETCH frame, got type ${frames[0].type}`)
      const id = Buffer.from(frames[0].payload).toString("utf8")
      this.send(socket, id).catch((e: Error) => this.fail(socket, e.message, e instanceof KvTransferError && e.notFound))
    })
  }

  private async send(socket: net.Socket, id: string): Promise<void> {
    const t = this.pending.take(id)
    const header: TransferHeader = {
      transferId: t.transferId, promptTokenIds: t.promptTokenIds, firstTokenId: t.firstTokenId, rngState: t.rngState,
      cachedTokens: t.cachedTokens, geometry: t.geometry, numBlocks: t.blocks.length
    }
    await write(socket, encodeFrame(FrameType.Header, Buffer.from(JSON.stringify(header), "utf8")))
    for (let i = 0; i < t.blocks.length; i++) await write(socket, encodeBlockFrame(i, t.blocks[i].checksum, t.blocks[i].bytes))
    socket.end(encodeFrame(FrameType.End, encodeUint32(t.blocks.length)))
  }

  private fail(socket: net.Socket, message: string, notFound = false): void {
    if (!socket.writable) return void socket.destroy()
    socket.end(encodeFrame(FrameType.Error, Buffer.from(JSON.stringify({ message, notFound }), "utf8")))
  }
}

/** Writes, and waits for the socket to drain when its buffer is full (one block in flight at a time). */
const write = (socket: net.Socket, data: Uint8Array): Promise<void> =>
  new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new KvTransferError("the KV transfer's consumer disconnected"))
    if (socket.write(data)) return resolve()
    const onDrain = () => {
      socket.off("close", onClose)
      resolve()
    }
    const onClose = () => {
      socket.off("drain", onDrain)
      reject(new KvTransferError("the KV transfer's consumer disconnected"))
    }
    socket.once("drain", onDrain)
    socket.once("close", onClose)
  })
