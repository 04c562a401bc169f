import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { AddRequestSpec } from "../engine/engine-core.ts"
import type { KvConsumer, KvProducer } from "../engine/kv-transfer/kv-connector.ts"

/**
 * A request's part in a disaggregated deployment, as vLLM's kv_transfer_params says it: on the prefill
 * server `do_remote_decode` (prefill, sample the first token, hand the KV over, end), on the decode server
 * `do_remote_prefill` with the transfer the prefill server named (import, continue decoding).
 */
export type KvTransferRequest =
  | { readonly doRemoteDecode: true }
  | { readonly doRemotePrefill: true; readonly transferId: string }

/** The engine's ends of the KV connector (--kv-role): a prefill server produces, a decode server consumes. */
export interface EngineKvConnector {
  readonly producer: KvProducer | null
  readonly consumer: KvConsumer | null
}

/** Why this engine cannot take the request's part, or null. */
export const kvRoleRefusal = (connector: EngineKvConnector | null, request: KvTransferRequest, n: number): string | null => {
  if ("doRemoteDecode" in request && connector?.producer == null) return "kv_transfer_params.do_remote_decode needs a prefill server (inferline serve --kv-role prefill)"
  if ("doRemotePrefill" in request && connector?.consumer == null) return "kv_transfer_params.do_remote_prefill needs a decode server (inferline serve --kv-role decode --kv-peer HOST:PORT)"
  if (n !== 1) return `a disaggregated request generates one choice: n must be 1, got ${n}`
  return null
}

/**
 * The core's view of the request's part: an export id for the prefill side; the fetched transfer for
 * the decode side (fetching fails with the connector's message: unknown, corrupt or truncated).
 */
export const kvSpecOf = (connector: EngineKvConnector, request: KvTransferRequest): Effect.Effect<Pick<AddRequestSpec, "kvExport" | "kvImport">, Error> =>
  "doRemoteDecode" in request
    ? Effect.succeed({ kvExport: `kv-${randomUUID()}` })
    : Effect.map(Effect.tryPromise({ try: () => connector.consumer!.fetch(request.transferId), catch: (e) => e as Error }), (kvImport) => ({ kvImport }))
