import type { KvDtype } from "../kv-cache.ts"

/**
 * What a prefill engine hands a decode engine (vLLM's KV connector payload, disaggregated prefill):
 * the prompt's KV, block by block, plus everything the decode side needs to continue exactly as the
 * prefill engine would have: the first token it sampled and where the sequence's random stream stands.
 * The detokenizer, stop checker, penalties and grammar position are not carried: the decode side
 * replays the first token through its own, which are deterministic functions of the tokens.
 */
export interface KvTransfer {
  /** The key the decode side asks for (kv_transfer_params.transfer_id). */
  readonly transferId: string
  readonly promptTokenIds: ReadonlyArray<number>
  /** The token the prefill engine sampled after the prompt (already sent to the client). */
  readonly firstTokenId: number
  /** The sequence's RNG after sampling the first token (Rng.snapshot). */
  readonly rngState: ReadonlyArray<number>
  /** Prompt tokens the prefill engine served from its prefix cache (reported as cached_tokens). */
  readonly cachedTokens: number
  readonly geometry: KvGeometry
  /** ceil(prompt / blockSize) blocks: the last may be partly filled (its tail is never read). */
  readonly blocks: ReadonlyArray<KvBlockData>
}

/** The shape of one block: both sides must agree on it, or the bytes mean nothing. */
export interface KvGeometry {
  readonly numLayers: number
  readonly blockSize: number
  /** Values per token per layer for K (and for V): num_kv_heads * head_dim. */
  readonly slotWidth: number
  readonly dtype: KvDtype
}

/** One block's K and V for every layer (layer 0 K, layer 0 V, layer 1 K, ...) and their CRC-32. */
export interface KvBlockData {
  readonly bytes: Uint8Array
  readonly checksum: number
}

/** A transfer that cannot be used: corrupt, truncated, unknown, or for another model shape. */
export class KvTransferError extends Error {
  override readonly name = "KvTransferError"
  /** The producer has no such transfer (unknown, fetched already, expired): the request's fault, not the wire's. */
  readonly notFound: boolean

  constructor(message: string, options: { readonly notFound?: boolean } = {}) {
    super(message)
    this.notFound = options.notFound ?? false
  }
}

export const bytesPerValue = (dtype: KvDtype): number => (dtype === "f32" ? 4 : 2)

/** Bytes of one block (all layers, K and V). */
export const blockBytes = (g: KvGeometry): number => 2 * g.numLayers * g.blockSize * g.slotWidth * bytesPerValue(g.dtype)

/** Why `got` cannot be imported into an engine of shape `want`, naming the field; null when they match. */
export const geometryMismatch = (want: KvGeometry, got: KvGeometry): string | null => {
  for (const key of ["numLayers", "blockSize", "slotWidth", "dtype"] as const) {
    if (want[key] !== got[key]) return `the transfer's ${key} is ${got[key]}, this engine's ${want[key]}`
  }
  return null
}
