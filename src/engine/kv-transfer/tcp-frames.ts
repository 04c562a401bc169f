import { KvTransferError, type KvTransfer } from "./kv-transfer.ts"

/**
 * The KV transfer protocol's frames on a TCP stream: a type byte, a uint32 (big-endian) payload length,
 * the payload. The consumer sends FETCH (the transfer id, UTF-8); the producer answers HEADER (JSON: the
 * transfer without its blocks, plus numBlocks), one BLOCK per block (uint32 index, uint32 CRC-32, the
 * bytes), then END (uint32 number of blocks sent); or ERROR (JSON: message, notFound) instead at any point.
 */
export const FrameType = { Fetch: 1, Header: 2, Block: 3, End: 4, Error: 5 } as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export interface Frame {
  readonly type: FrameType
  readonly payload: Uint8Array
}

/** The transfer's fields a HEADER frame carries (everything but the block bytes). */
export interface TransferHeader extends Omit<KvTransfer, "blocks"> {
  readonly numBlocks: number
}

const HEAD = 5

export const encodeFrame = (type: FrameType, payload: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEAD + payload.length)
  out[0] = type
  out.writeUInt32BE(payload.length, 1)
  out.set(payload, HEAD)
  return out
}

export const encodeBlockFrame = (index: number, checksum: number, bytes: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEAD + 8 + bytes.length)
  out[0] = FrameType.Block
  out.writeUInt32BE(8 + bytes.length, 1)
  out.writeUInt32BE(index, HEAD)
  out.writeUInt32BE(checksum, HEAD + 4)
  out.set(bytes, HEAD + 8)
  return out
}

export const encodeUint32 = (n: number): Uint8Array => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n, 0)
  return b
}

/**
 * Cuts a byte stream into frames as chunks arrive. A frame longer than `maxPayload()` or of an unknown
 * type is a KvTransferError at once, so a corrupt length is never waited for.
 */
export class FrameReader {
  /** Received bytes not yet cut into frames, kept as chunks: joined once per frame, not once per chunk. */
  private chunks: Array<Buffer> = []
  private total = 0
  private readonly maxPayload: () => number

  constructor(maxPayload: () => number) {
    this.maxPayload = maxPayload
  }

  push(chunk: Buffer): Array<Frame> {
    this.chunks.push(chunk)
    this.total += chunk.length
    const frames: Array<Frame> = []
    while (this.total >= HEAD) {
      if (this.chunks[0].length < HEAD) this.join()
      const head = this.chunks[0]
      const type = head[0]
      if (type < FrameType.Fetch || type > FrameType.Error) throw new KvTransferError(`corrupt KV transfer stream: unknown frame type ${type}`)
      const len = head.readUInt32BE(1)
      const max = this.maxPayload()
      if (len > max) throw new KvTransferError(`corrupt KV transfer stream: a frame of ${len} bytes (at most ${max} expected here)`)
      if (this.total < HEAD + len) break
      const all = this.join()
      frames.push({ type: type as FrameType, payload: all.subarray(HEAD, HEAD + len) })
      const rest = all.subarray(HEAD + len)
      this.chunks = rest.length === 0 ? [] : [rest]
      this.total = rest.length
    }
    return frames
  }

  private join(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.total)
    this.chunks = [all]
    return all
  }
}
