import type { KvConsumer, KvProducer } from "./kv-connector.ts"
import { verifyTransfer } from "./verify-transfer.ts"
import { PendingTransfers, type PendingTransfersOptions } from "./pending-transfers.ts"

/**
 * Two engines in one process: the prefill engine's offers wait in shared memory and the decode engine
 * takes them by reference (no copy, no serialisation). Checksums are still verified on fetch, so a bug
 * that scribbles on a pending transfer shows up as the same error the TCP transport gives.
 */
export class InProcessKvConnector implements KvProducer, KvConsumer {
  readonly pending: PendingTransfers

  constructor(options: PendingTransfersOptions = {}) {
    this.pending = new PendingTransfers(options)
  }

  readonly offer: KvProducer["offer"] = (t) => this.pending.put(t)

  readonly release: KvProducer["release"] = (id) => this.pending.delete(id)

  readonly fetch: KvConsumer["fetch"] = async (id) => verifyTransfer(this.pending.take(id))
}
