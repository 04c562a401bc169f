import type { KvBlockIo } from "./kv-block-io.ts"
import { geometryMismatch, type KvTransfer } from "./kv-transfer.ts"
import type { SamplingParams } from "../sampling-params.ts"

/** The parts of a request the checks look at (engine-core.ts's AddRequestSpec). */
interface TransferSpec {
  readonly promptTokenIds: ReadonlyArray<number>
  readonly params: SamplingParams
  readonly seqIndex?: number
  readonly pooling?: unknown
  readonly kvExport?: string
  readonly kvImport?: KvTransfer
}

/** Why an engine (with `io` access to its pool, or none) cannot export or import this request's KV, by name; null when it can. */
export const kvTransferRefusal = (io: KvBlockIo | null, spec: TransferSpec, vocabSize: number): string | null => {
  if (io === null) return "this engine has no KV connector (serve it with --kv-role)"
  if (spec.kvExport !== undefined && spec.kvImport !== undefined) return "a request either exports its prompt's KV or imports it, not both"
  if (spec.pooling !== undefined) return "embedding requests are not disaggregated"
  if ((spec.seqIndex ?? 0) !== 0 || spec.params.n !== 1) return "a disaggregated request generates one sequence (n = 1)"
  const t = spec.kvImport
  if (t === undefined) return null
  if (spec.params.promptLogprobs !== null) return "prompt_logprobs come from the prefill side; the decode side cannot compute them from transferred KV"
  const mismatch = geometryMismatch(io.geometry, t.geometry)
  if (mismatch !== null) return `KV transfer ${t.transferId} is for another model shape: ${mismatch}`
  if (t.promptTokenIds.length !== spec.promptTokenIds.length || t.promptTokenIds.some((x, i) => x !== spec.promptTokenIds[i])) {
    return `KV transfer ${t.transferId} was computed for another prompt (${t.promptTokenIds.length} tokens; this request has ${spec.promptTokenIds.length})`
  }
  if (!Number.isInteger(t.firstTokenId) || t.firstTokenId < 0 || t.firstTokenId >= vocabSize) return `KV transfer ${t.transferId}: first token ${t.firstTokenId} is outside the vocabulary`
  return null
}
