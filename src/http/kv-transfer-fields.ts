import { Effect } from "effect"
import type { KvTransferRequest } from "../actors/engine-kv-transfer.ts"
import { invalidRequest, type ApiError } from "../api/api-error.ts"

/** vLLM's kv_transfer_params as a request carries it (what a disaggregating router sends each side). */
export interface KvTransferParamsField {
  readonly do_remote_decode?: boolean | null
  readonly do_remote_prefill?: boolean | null
  readonly transfer_id?: string | null
}

const PARAM = "kv_transfer_params"

/**
 * The request's part in a disaggregated deployment: do_remote_decode (prefill here, one JSON answer
 * carrying the transfer id) or do_remote_prefill with the transfer_id the prefill server answered with.
 * Combinations that cannot work are a 400 naming the field.
 */
export const kvTransferOf = (request: { readonly kv_transfer_params?: KvTransferParamsField | null; readonly stream?: boolean | null }, prompts: number): Effect.Effect<KvTransferRequest | undefined, ApiError> => {
  const p = request.kv_transfer_params
  if (p == null || (p.do_remote_decode !== true && p.do_remote_prefill !== true)) return Effect.succeed(undefined)
  if (p.do_remote_decode === true && p.do_remote_prefill === true) return Effect.fail(invalidRequest("kv_transfer_params: a server either prefills for a remote decode or decodes a remote prefill, not both.", PARAM))
  if (prompts !== 1) return Effect.fail(invalidRequest("kv_transfer_params: a disaggregated request has one prompt.", "prompt"))
  if (p.do_remote_decode === true) {
    if (request.stream === true) return Effect.fail(invalidRequest("kv_transfer_params.do_remote_decode answers with one JSON response carrying the transfer id: stream must be false.", "stream"))
    return Effect.succeed({ doRemoteDecode: true })
  }
  if (typeof p.transfer_id !== "string" || p.transfer_id === "") return Effect.fail(invalidRequest("kv_transfer_params.do_remote_prefill needs the transfer_id the prefill server answered with.", `${PARAM}.transfer_id`))
  return Effect.succeed({ doRemotePrefill: true, transferId: p.transfer_id })
}

/** The response's kv_transfer_params when the prefill handed its KV over (absent otherwise). */
export const kvTransferResponse = (transferId: string | undefined) => (transferId === undefined ? {} : { kv_transfer_params: { transfer_id: transferId } })
