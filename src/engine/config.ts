import { ModelLoadError } from "./errors.ts"

/** The architectures the runtime implements. They share one forward pass; the differences are flags. */
export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"] as const
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number]

export type RopeScaling =
  | { readonly type: "llama3"; readonly factor: number; readonly lowFreqFactor: number; readonly highFreqFactor: number; readonly originalMaxPositionEmbeddings: number }
  | { readonly type: "linear"; readonly factor: number }
  /** One divisor per frequency, as GGUF files carry Llama 3 scaling (llama.cpp's rope_freqs tensor). */
  | { readonly type: "factors"; readonly factors: ReadonlyArray<number> }

/** A Hugging Face `config.json`, normalised into the fields the forward pass needs. */
export interface ModelConfig {
  readonly architecture: Architecture
  readonly vocabSize: number
  readonly hiddenSize: number
  readonly intermediateSize: number
  readonly numLayers: number
  readonly numHeads: number
  readonly numKvHeads: number
  readonly headDim: number
  readonly rmsNormEps: number
  readonly ropeTheta: number
  readonly ropeScaling: RopeScaling | null
  readonly maxPositionEmbeddings: number
  readonly tieWordEmbeddings: boolean
  /** q/k/v projections carry a bias (Qwen2, or Llama with `attention_bias`). */
  readonly qkvBias: boolean
  /** o_proj carries a bias (Llama `attention_bias`). */
  readonly oBias: boolean
  readonly mlpBias: boolean
  /** Attention window in tokens (Mistral v0.1); null attends to the whole context. */
  readonly slidingWindow: number | null
  readonly bosTokenId: number | null
  readonly eosTokenIds: ReadonlyArray<number>
}

type Json = Record<string, unknown>

const num = (file: string, raw: Json, key: string, fallback?: number): number => {
  const v = raw[key]
  if (typeof v === "number" && Number.isFinite(v)) return v
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback
    throw new ModelLoadError(file, `missing required field "${key}"`)
  }
  throw new ModelLoadError(file, `field "${key}" must be a number, got ${JSON.stringify(v)}`)
}

const posInt = (file: string, raw: Json, key: string, fallback?: number): number => {
  const v = num(file, raw, key, fallback)
  if (!Number.isInteger(v) || v <= 0) throw new ModelLoadError(file, `field "${key}" must be a positive integer, got ${v}`)
  return v
}

export const tokenIdList = (v: unknown): Array<number> =>
  typeof v === "number" ? [v] : Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : []

const parseRopeScaling = (file: string, raw: unknown): RopeScaling | null => {
  if (raw === undefined || raw === null) return null
  if (typeof raw !== "object") throw new ModelLoadError(file, `"rope_scaling" must be an object`)
  const r = raw as Json
  const type = (r.rope_type ?? r.type) as unknown
  switch (type) {
    case "default":
      return null
    case "llama3":
      return {
        type: "llama3",
        factor: num(file, r, "factor"),
        lowFreqFactor: num(file, r, "low_freq_factor"),
        highFreqFactor: num(file, r, "high_freq_factor"),
        originalMaxPositionEmbeddings: posInt(file, r, "original_max_position_embeddings")
      }
    case "linear":
      return { type: "linear", factor: num(file, r, "factor") }
    default:
      throw new ModelLoadError(file, `unsupported rope_scaling type ${JSON.stringify(type)} (supported: default, linear, llama3)`)
  }
}

/** Parses a `config.json` object. `file` names the source in error messages. */
export const parseModelConfig = (file: string, raw: Json): ModelConfig => {
  const archs = raw.architectures
  const architecture = Array.isArray(archs) ? archs[0] : undefined
  if (typeof architecture !== "string" || !(SUPPORTED_ARCHITECTURES as ReadonlyArray<string>).includes(architecture)) {
    throw new ModelLoadError(
      file,
      `unsupported architecture ${JSON.stringify(architecture ?? null)}; supported: ${SUPPORTED_ARCHITECTURES.join(", ")}`
    )
  }
  const act = raw.hidden_act ?? "silu"
  if (act !== "silu") throw new ModelLoadError(file, `unsupported hidden_act ${JSON.stringify(act)} (only silu)`)
  const hiddenSize = posInt(file, raw, "hidden_size")
  const numHeads = posInt(file, raw, "num_attention_heads")
  const numKvHeads = posInt(file, raw, "num_key_value_heads", numHeads)
  if (numHeads % numKvHeads !== 0) {
    throw new ModelLoadError(file, `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`)
  }
  const headDim = posInt(file, raw, "head_dim", hiddenSize / numHeads)
  if (headDim % 2 !== 0) throw new ModelLoadError(file, `head_dim must be even for RoPE, got ${headDim}`)
  const isQwen2 = architecture === "Qwen2ForCausalLM"
  const attentionBias = raw.attention_bias === true
  const sw = raw.sliding_window
  const useSliding = isQwen2 ? raw.use_sliding_window === true : true
  return {
    architecture: architecture as Architecture,
    vocabSize: posInt(file, raw, "vocab_size"),
    hiddenSize,
    intermediateSize: posInt(file, raw, "intermediate_size"),
    numLayers: posInt(file, raw, "num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(file, raw, "rms_norm_eps", 1e-6),
    ropeTheta: num(file, raw, "rope_theta", 10000),
    ropeScaling: parseRopeScaling(file, raw.rope_scaling),
    maxPositionEmbeddings: posInt(file, raw, "max_position_embeddings", 2048),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: isQwen2 || attentionBias,
    oBias: attentionBias,
    mlpBias: raw.mlp_bias === true,
    slidingWindow: useSliding && typeof sw === "number" && sw > 0 ? sw : null,
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: tokenIdList(raw.eos_token_id)
  }
}
