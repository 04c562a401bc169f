import type { KvTransfer } from "./kv-transfer.ts"

/**
 * The seam between two engines of a disaggregated deployment (vLLM's KVConnector, reduced to its two
 * roles). The prefill engine hands each finished prefill to `offer`; the decode engine `fetch`es it by
 * id when the decode request arrives. Transports: in-process (one object shared by two engines,
 * in-process-connector.ts) and TCP between processes (tcp-kv-server.ts / tcp-kv-client.ts).
 *
 * As in vLLM, the decode side's scheduler counts the imported tokens as computed when it admits the
 * request (get_num_new_matched_tokens), records which of its allocated blocks to fill (update_state_after_alloc)
 * and fills them before the step's forward pass (start_load_kv). Unlike vLLM's NixlConnector, the prefill
 * side does not hold its blocks until the decode side has read them: it copies them out when the first
 * token is sampled and frees them at once, so a decode side that never comes costs host memory only.
 */
export interface KvProducer {
  /** Keeps the transfer until a consumer fetches it, it expires, or it is released. */
  readonly offer: (transfer: KvTransfer) => void
  /** Drops a transfer nobody will fetch (the request was cancelled). Idempotent. */
  readonly release: (transferId: string) => void
}

export interface KvConsumer {
  /**
   * The transfer with this id, whole and verified (every block's checksum), taken from the producer so
   * it is fetched at most once. Rejects with a KvTransferError when it is unknown, corrupt or truncated.
   */
  readonly fetch: (transferId: string) => Promise<KvTransfer>
}
