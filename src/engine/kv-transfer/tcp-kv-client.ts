import * as net from "node:net"
import { blockChecksum } from "./block-checksum.ts"
import type { KvConsumer } from "./kv-connector.ts"
import { blockBytes, KvTransferError, type KvBlockData, type KvTransfer } from "./kv-transfer.ts"
import { encodeFrame, FrameReader, FrameType, type Frame, type TransferHeader } from "./tcp-frames.ts"
import { verifyTransfer } from "./verify-transfer.ts"

export interface TcpKvClientOptions {
  readonly host: string
  readonly port: number
  /** A transfer that goes this long without a byte fails (a stalled producer is an error, not a hang). */
  readonly idleTimeoutMs?: number
}

/** Largest HEADER accepted: the prompt's token ids as JSON. */
const MAX_HEADER_BYTES = 64 * 2 ** 20

/**
 * The decode side's end of the TCP transport (--kv-peer): connects to the prefill server, asks for a
 * transfer, and checks each block's CRC-32 as it arrives. A bad checksum, an out-of-order block, a
 * connection closed before END, or silence past the idle timeout rejects with a KvTransferError.
 */
export class TcpKvClient implements KvConsumer {
  readonly options: TcpKvClientOptions

  constructor(options: TcpKvClientOptions) {
    this.options = options
  }

  readonly fetch: KvConsumer["fetch"] = (transferId) =>
    new Promise<KvTransfer>((resolve, reject) => {
      const { host, port } = this.options
      const where = `${host}:${port}`
      const socket = net.connect({ host, port })
      let header: TransferHeader | null = null
      const blocks: Array<KvBlockData> = []
      let settled = false
      const fail = (message: string, notFound = false) => {
        if (settled) return
        settled = true
        socket.destroy()
        reject(new KvTransferError(message, { notFound }))
      }
      // After the header only block frames are long: a length past one block is corruption, refused at once.
      const reader = new FrameReader(() => {
        if (header === null) return MAX_HEADER_BYTES
        const size = 8 + blockBytes(header.geometry)
        return Number.isSafeInteger(size) ? size : 0
      })
      const onFrame = (f: Frame): void => {
        switch (f.type) {
          case FrameType.Error: {
            const text = Buffer.from(f.payload).toString("utf8")
            let error: { message?: unknown; notFound?: unknown } = {}
            try {
              error = JSON.parse(text) as typeof error
            } catch {
              // not JSON: the text is the message
            }
            return fail(`the KV producer at ${where} refused transfer ${transferId}: ${typeof error.message === "string" ? error.message : text}`, error.notFound === true)
          }
          case FrameType.Header:
            if (header !== null) return fail(`KV transfer ${transferId}: a second header`)
            try {
              header = JSON.parse(Buffer.from(f.payload).toString("utf8")) as TransferHeader
            } catch {
              return fail(`KV transfer ${transferId}: its header is not JSON (corrupt stream)`)
            }
            if (header.transferId !== transferId) return fail(`KV transfer ${transferId}: the producer sent ${JSON.stringify(header.transferId)} instead`)
            return
          case FrameType.Block: {
            if (header === null) return fail(`KV transfer ${transferId}: a block before the header`)
            const view = Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.length)
            const index = view.readUInt32BE(0), checksum = view.readUInt32BE(4)
            if (index !== blocks.length) return fail(`KV transfer ${transferId}: block ${index} arrived where block ${blocks.length} was due`)
            const bytes = new Uint8Array(f.payload.subarray(8)) // a copy: the frame's buffer is reused
            if (blockChecksum(bytes) !== checksum) return fail(`KV transfer ${transferId}: block ${index} fails its checksum (corrupted in transit)`)
            blocks.push({ bytes, checksum })
            return
          }
          case FrameType.End: {
            if (header === null) return fail(`KV transfer ${transferId}: END before the header`)
            const { numBlocks, ...rest } = header
            if (blocks.length !== numBlocks) return fail(`KV transfer ${transferId} is truncated: ${blocks.length} of ${numBlocks} blocks`)
            try {
              const t = verifyTransfer({ ...rest, blocks })
              settled = true
              socket.end()
              resolve(t)
            } catch (e) {
              fail((e as Error).message)
            }
            return
          }
          default:
            return fail(`KV transfer ${transferId}: unexpected frame type ${f.type}`)
        }
      }
      socket.setTimeout(this.options.idleTimeoutMs ?? 10_000, () => fail(`KV transfer ${transferId} from ${where}: no data for ${this.options.idleTimeoutMs ?? 10_000} ms`))
      socket.on("connect", () => socket.write(encodeFrame(FrameType.Fetch, Buffer.from(transferId, "utf8"))))
      socket.on("data", (chunk: Buffer) => {
        try {
          for (const f of reader.push(chunk)) {
            onFrame(f)
            if (settled) return
          }
        } catch (e) {
          fail(`KV transfer ${transferId}: ${(e as Error).message}`)
        }
      })
      socket.on("error", (e) => fail(`KV transfer ${transferId}: cannot reach the KV producer at ${where}: ${e.message}`))
      socket.on("close", () => {
        const got = header === null ? "before its header" : `after ${blocks.length} of ${header.numBlocks} blocks`
        fail(`KV transfer ${transferId} is truncated: the connection to ${where} closed ${got}`)
      })
    })
}
