import { blockChecksum } from "./block-checksum.ts"
import { blockBytes, KvTransferError, type KvTransfer } from "./kv-transfer.ts"

/**
 * The transfer if it is whole: one block per blockSize prompt tokens, each the geometry's size and
 * matching its CRC-32. Anything else is a KvTransferError naming the block, never a partial import.
 */
export const verifyTransfer = (t: KvTransfer): KvTransfer => {
  const want = Math.ceil(t.promptTokenIds.length / t.geometry.blockSize)
  if (t.blocks.length !== want) throw new KvTransferError(`KV transfer ${t.transferId} is truncated: ${t.blocks.length} of ${want} blocks`)
  const size = blockBytes(t.geometry)
  t.blocks.forEach((b, i) => {
    if (b.bytes.length !== size) throw new KvTransferError(`KV transfer ${t.transferId}: block ${i} has ${b.bytes.length} bytes, ${size} expected`)
    const sum = blockChecksum(b.bytes)
    if (sum !== b.checksum) throw new KvTransferError(`KV transfer ${t.transferId}: block ${i} fails its checksum (crc32 ${sum.toString(16)}, sent ${b.checksum.toString(16)})`)
  })
  return t
}
