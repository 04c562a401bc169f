import type { Architecture, ModelConfig, RopeScaling } from "../config.ts"
import { ModelLoadError } from "../errors.ts"
import type { GgufFile } from "./gguf-file.ts"
import type { GgufMetadata } from "./gguf-metadata.ts"

/**
 * GGUF general.architecture values Inferline runs, and the Hugging Face architecture each maps onto.
 * Mistral models are written by llama.cpp's converter as "llama" (a sliding window, when a file carries
 * llama.attention.sliding_window, makes it Mistral-like).
 */
export const SUPPORTED_GGUF_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM"
}

export interface SpecialTokenIds {
  readonly bos: number | null
  readonly eos: ReadonlyArray<number>
}

const ropeScaling = (meta: GgufMetadata, arch: string, factors: ReadonlyArray<number> | null, headDim: number): RopeScaling | null => {
  const type = meta.string(`${arch}.rope.scaling.type`, "none")
  if (factors !== null) {
    if (type !== "none") throw new ModelLoadError(meta.file, `rope_freqs together with ${arch}.rope.scaling.type "${type}" is not supported`)
    if (factors.length !== headDim / 2) {
      throw new ModelLoadError(meta.file, `tensor "rope_freqs.weight" has ${factors.length} values, expected head_dim/2 = ${headDim / 2}`)
    }
    return { type: "factors", factors }
  }
  if (type === "none") return null
  if (type === "linear") return { type: "linear", factor: meta.float(`${arch}.rope.scaling.factor`) }
  throw new ModelLoadError(meta.file, `unsupported ${arch}.rope.scaling.type "${type}" (supported: none, linear, and Llama 3 scaling as rope_freqs)`)
}

const positive = (meta: GgufMetadata, key: string, fallback?: number): number => {
  const v = meta.uint(key, fallback)
  if (v <= 0) throw new ModelLoadError(meta.file, `metadata "${key}" must be positive, got ${v}`)
  return v
}

/** The ModelConfig a GGUF file describes (hyperparameters from metadata, biases and tying from its tensors). */
export const ggufModelConfig = (g: GgufFile, meta: GgufMetadata, ropeFactors: ReadonlyArray<number> | null, special: SpecialTokenIds): ModelConfig => {
  const arch = meta.string("general.architecture")
  const architecture = SUPPORTED_GGUF_ARCHITECTURES[arch]
  if (architecture === undefined) {
    throw new ModelLoadError(g.file, `unsupported architecture "${arch}"; supported: llama (Llama 2/3, Mistral), qwen2`)
  }
  const k = (s: string) => `${arch}.${s}`
  const hiddenSize = positive(meta, k("embedding_length"))
  const numHeads = positive(meta, k("attention.head_count"))
  const numKvHeads = positive(meta, k("attention.head_count_kv"), numHeads)
  if (numHeads % numKvHeads !== 0) {
    throw new ModelLoadError(g.file, `attention.head_count (${numHeads}) is not a multiple of attention.head_count_kv (${numKvHeads})`)
  }
  const headDim = positive(meta, k("attention.key_length"), Math.floor(hiddenSize / numHeads))
  const valueDim = meta.uint(k("attention.value_length"), headDim)
  const ropeDim = meta.uint(k("rope.dimension_count"), headDim)
  if (valueDim !== headDim) throw new ModelLoadError(g.file, `attention.value_length ${valueDim} differs from key_length ${headDim} (not supported)`)
  if (ropeDim !== headDim) throw new ModelLoadError(g.file, `rope.dimension_count ${ropeDim} differs from the head size ${headDim} (partial rotary embeddings are not supported)`)
  if (headDim % 2 !== 0) throw new ModelLoadError(g.file, `head size must be even for RoPE, got ${headDim}`)

  const embed = g.tensors.get("token_embd.weight")
  if (embed === undefined) throw new ModelLoadError(g.file, `missing tensor "token_embd.weight"`)
  const vocabSize = embed.dims[1] ?? 0
  const declared = meta.optionalUint(k("vocab_size"))
  if (declared !== null && declared !== vocabSize) {
    throw new ModelLoadError(g.file, `${arch}.vocab_size is ${declared} but token_embd.weight has ${vocabSize} rows`)
  }
  const has = (name: string) => g.tensors.has(name)
  const window = meta.uint(k("attention.sliding_window"), 0)
  return {
    architecture: arch === "llama" && window > 0 ? "MistralForCausalLM" : architecture,
    vocabSize,
    hiddenSize,
    intermediateSize: positive(meta, k("feed_forward_length")),
    numLayers: positive(meta, k("block_count")),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: meta.float(k("attention.layer_norm_rms_epsilon")),
    ropeTheta: meta.float(k("rope.freq_base"), 10000),
    ropeScaling: ropeScaling(meta, arch, ropeFactors, headDim),
    maxPositionEmbeddings: positive(meta, k("context_length"), 2048),
    tieWordEmbeddings: !has("output.weight"),
    qkvBias: has("blk.0.attn_q.bias"),
    oBias: has("blk.0.attn_output.bias"),
    mlpBias: has("blk.0.ffn_gate.bias"),
    slidingWindow: window > 0 ? window : null,
    bosTokenId: special.bos,
    eosTokenIds: special.eos
  }
}
