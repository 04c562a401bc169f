import { KvTransferError, type KvTransfer } from "./kv-transfer.ts"

export interface PendingTransfersOptions {
  /** A transfer not fetched within this long is dropped (its decode request never came). */
  readonly ttlMs?: number
  /** Bytes of block data held at most; the oldest transfers go first past it. */
  readonly maxBytes?: number
  readonly now?: () => number
}

const sizeOf = (t: KvTransfer): number => t.blocks.reduce((n, b) => n + b.bytes.length, 0)

/**
 * The prefill side's transfers waiting for their decode side, in arrival order. The KV blocks themselves
 * were copied out and freed when the prefill finished; what waits here is host memory, bounded by
 * `maxBytes` and `ttlMs`, so a decode side that never comes cannot pin the prefill engine's pool.
 */
export class PendingTransfers {
  private readonly entries = new Map<string, { readonly transfer: KvTransfer; readonly at: number; readonly bytes: number }>()
  private bytes = 0
  private readonly ttlMs: number
  private readonly maxBytes: number
  private readonly now: () => number

  constructor(options: PendingTransfersOptions = {}) {
    this.ttlMs = options.ttlMs ?? 60_000
    this.maxBytes = options.maxBytes ?? 1024 * 2 ** 20
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  get heldBytes(): number {
    return this.bytes
  }

  put(transfer: KvTransfer): void {
    this.expire()
    this.delete(transfer.transferId)
    const bytes = sizeOf(transfer)
    this.entries.set(transfer.transferId, { transfer, at: this.now(), bytes })
    this.bytes += bytes
    for (const id of this.entries.keys()) {
      if (this.bytes <= this.maxBytes || id === transfer.transferId) break
      this.delete(id)
    }
  }

  /** Removes and returns the transfer; an unknown (or expired) id is a KvTransferError naming it. */
  take(transferId: string): KvTransfer {
    this.expire()
    const e = this.entries.get(transferId)
    if (e === undefined) throw new KvTransferError(`no KV transfer ${JSON.stringify(transferId)} is pending (unknown, already fetched, or expired after ${this.ttlMs} ms)`, { notFound: true })
    this.delete(transferId)
    return e.transfer
  }

  delete(transferId: string): void {
    const e = this.entries.get(transferId)
    if (e === undefined) return
    this.entries.delete(transferId)
    this.bytes -= e.bytes
  }

  private expire(): void {
    const cutoff = this.now() - this.ttlMs
    for (const [id, e] of this.entries) {
      if (e.at > cutoff) break // arrival order: the rest are younger
      this.delete(id)
    }
  }
}
