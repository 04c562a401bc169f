/** Counters of a disaggregated engine's KV transfers (in /metrics as inferline_kv_transfer_*). */
export interface KvTransferStats {
  /** Prefill side: requests whose prompt KV was handed over, and the bytes copied out for them. */
  exports: number
  exportedBytes: number
  /** Decode side: transfers written into the pool, the bytes written, and the blocks not written because the engine's own prefix cache had them. */
  imports: number
  importedBytes: number
  reusedBlocks: number
  /** Decode side: transfers fetched, the seconds spent fetching them (bytes / seconds: the transport's throughput), and fetches that failed. */
  fetches: number
  fetchSeconds: number
  fetchFailures: number
}

export const emptyKvTransferStats = (): KvTransferStats => ({
  exports: 0, exportedBytes: 0, imports: 0, importedBytes: 0, reusedBlocks: 0, fetches: 0, fetchSeconds: 0, fetchFailures: 0
})
