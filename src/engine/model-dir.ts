import * as fs from "node:fs"
import * as path from "node:path"
import { type ModelConfig, parseModelConfig, tokenIdList } from "./config.ts"
import { ModelLoadError } from "./errors.ts"
import type { GgufFile } from "./gguf/gguf-file.ts"
import { findGgufFile, readGgufModel } from "./gguf/gguf-model.ts"
import type { GgufWeightOrigins } from "./gguf/gguf-weights.ts"
import { referenceKernels, type Kernels } from "./kernels.ts"
import { CausalLM } from "./model.ts"
import { TextTokenizer } from "./tokenizer.ts"
import { WasmArena, WORKSPACE_RESERVE_BYTES } from "./wasm/arena.ts"
import { simdSupported } from "./wasm/module.ts"
import { simdKernels } from "./wasm/simd-kernels.ts"
import { loadWeights, parameterCount } from "./weights.ts"
import { sharedAlloc, type LoadQuantization, type WeightDtype } from "./matrix.ts"

export type KernelBackend = "simd" | "reference"

/**
 * Kernels for a backend name; "simd" (the default) gets its own tensor arena, whose main memory keeps
 * `kvCacheBytes` and the workspaces' reserve free of weights (arena.ts).
 */
export const makeKernels = (backend: KernelBackend = "simd", kvCacheBytes?: number): Kernels =>
  backend === "simd" && simdSupported()
    ? simdKernels(kvCacheBytes === undefined ? WasmArena.create() : WasmArena.create(undefined, kvCacheBytes + WORKSPACE_RESERVE_BYTES))
    : referenceKernels

/** Sampling defaults and stop ids from `generation_config.json`. */
export interface GenerationDefaults {
  readonly eosTokenIds: ReadonlyArray<number>
  readonly temperature?: number
  readonly topP?: number
  readonly topK?: number
  readonly repetitionPenalty?: number
  readonly maxNewTokens?: number
}

export interface LoadedModel {
  readonly dir: string
  readonly config: ModelConfig
  readonly model: CausalLM
  readonly tokenizer: TextTokenizer | null
  readonly generation: GenerationDefaults
  readonly parameters: number
  readonly loadMs: number
  /** For a GGUF model: the file and where each weight came from (its stored, possibly quantized, blocks). */
  readonly gguf?: { readonly file: GgufFile; readonly origins: GgufWeightOrigins }
}

export const readModelConfig = (dir: string): ModelConfig => {
  const file = path.join(dir, "config.json")
  if (!fs.existsSync(file)) throw new ModelLoadError(file, "file not found (is this a Hugging Face model directory?)")
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new ModelLoadError(file, `invalid JSON (${(e as Error).message})`)
  }
  return parseModelConfig(file, raw)
}

const readGenerationDefaults = (dir: string, config: ModelConfig): GenerationDefaults => {
  const file = path.join(dir, "generation_config.json")
  if (!fs.existsSync(file)) return { eosTokenIds: config.eosTokenIds }
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>
  const eos = tokenIdList(raw.eos_token_id)
  const opt = (k: string): number | undefined => (typeof raw[k] === "number" ? (raw[k] as number) : undefined)
  return {
    eosTokenIds: eos.length > 0 ? eos : config.eosTokenIds,
    temperature: raw.do_sample === false ? 0 : opt("temperature"),
    topP: opt("top_p"),
    topK: opt("top_k"),
    repetitionPenalty: opt("repetition_penalty"),
    maxNewTokens: opt("max_new_tokens")
  }
}

/**
 * Loads a Hugging Face model directory: config, weights (streamed tensor by tensor; matrices at the
 * checkpoint's precision, or `dtype`'s), generation
 * defaults and, when present, tokenizer and chat template; `quantization` quantizes the matrices at load
 * (quantize.ts). A .gguf file (or a directory without config.json holding one) loads through the GGUF
 * reader: quantized matrices (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) stay quantized, other types are dequantized to f32.
 */
export const loadModelDir = (
  dir: string,
  options: { kernels?: Kernels; backend?: KernelBackend; dtype?: WeightDtype; quantization?: LoadQuantization; kvCacheBytes?: number } = {}
): LoadedModel => {
  const started = performance.now()
  const kernels = options.kernels ?? makeKernels(options.backend, options.kvCacheBytes)
  const alloc = kernels.arena?.matrices ?? sharedAlloc
  const ggufPath = findGgufFile(dir)
  if (ggufPath !== null) {
    if (options.dtype !== undefined && options.dtype !== "float32") {
      throw new ModelLoadError(ggufPath, `--dtype ${options.dtype} applies to safetensors checkpoints; a GGUF file's weights keep their stored types (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) or are dequantized to float32`)
    }
    if (options.quantization !== undefined) {
      throw new ModelLoadError(ggufPath, `--quantization ${options.quantization} applies to safetensors checkpoints; a GGUF file is already quantized (its tensors keep the types they are stored in)`)
    }
    const g = readGgufModel(ggufPath, alloc)
    return {
      dir,
      config: g.config,
      model: new CausalLM(g.config, g.weights, kernels),
      tokenizer: g.tokenizer,
      generation: { eosTokenIds: g.config.eosTokenIds },
      parameters: parameterCount(g.weights),
      loadMs: performance.now() - started,
      gguf: { file: g.gguf, origins: g.origins }
    }
  }
  const config = readModelConfig(dir)
  const weights = loadWeights(dir, config, alloc, options.dtype ?? null, options.quantization ?? null)
  const tokenizer = fs.existsSync(path.join(dir, "tokenizer.json")) ? TextTokenizer.fromDir(dir) : null
  return {
    dir,
    config,
    model: new CausalLM(config, weights, kernels),
    tokenizer,
    generation: readGenerationDefaults(dir, config),
    parameters: parameterCount(weights),
    loadMs: performance.now() - started
  }
}
