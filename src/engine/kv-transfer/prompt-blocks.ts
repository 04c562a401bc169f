import type { KvBlock } from "../block-pool.ts"
import { blockChecksum } from "./block-checksum.ts"
import type { KvBlockIo } from "./kv-block-io.ts"
import type { KvBlockData, KvTransfer } from "./kv-transfer.ts"

/** Copies of the blocks holding a prompt of `promptLength` tokens (the request's first blocks), checksummed. */
export const exportPromptBlocks = (io: KvBlockIo, blocks: ReadonlyArray<KvBlock>, promptLength: number): Array<KvBlockData> => {
  const n = Math.ceil(promptLength / io.geometry.blockSize)
  if (blocks.length < n) throw new Error(`the request holds ${blocks.length} blocks; its prompt of ${promptLength} tokens needs ${n}`)
  return blocks.slice(0, n).map((b) => {
    const bytes = io.read(b.id)
    return { bytes, checksum: blockChecksum(bytes) }
  })
}

/**
 * Writes the transfer's blocks from `fromBlock` on into the request's blocks. The ones before it are
 * this engine's own prefix-cache hits: they already hold the same KV, and other requests may be reading
 * them, so they are left alone.
 */
export const importPromptBlocks = (io: KvBlockIo, blocks: ReadonlyArray<KvBlock>, fromBlock: number, transfer: KvTransfer): void => {
  for (let i = fromBlock; i < transfer.blocks.length; i++) io.write(blocks[i].id, transfer.blocks[i].bytes)
}
