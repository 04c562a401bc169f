import * as fs from "node:fs"
import * as path from "node:path"
import type { ModelConfig } from "../config.ts"
import type { MatrixAlloc } from "../matrix.ts"
import { ModelLoadError } from "../errors.ts"
import { TextTokenizer } from "../tokenizer.ts"
import type { ModelWeights } from "../weights.ts"
import { ggufModelConfig } from "./gguf-config.ts"
import { readGgufHeader, type GgufFile } from "./gguf-file.ts"
import { GgufMetadata } from "./gguf-metadata.ts"
import { ggufTokenizer } from "./gguf-tokenizer.ts"
import { loadGgufWeights, readSmallTensor, type GgufWeightOrigins } from "./gguf-weights.ts"

export interface GgufModel {
  readonly gguf: GgufFile
  readonly config: ModelConfig
  readonly weights: ModelWeights
  /** Each weight's tensor in the file (the stored blocks stay readable through readStoredBlocks). */
  readonly origins: GgufWeightOrigins
  readonly tokenizer: TextTokenizer | null
}

/**
 * The GGUF file `target` names: the file itself, or the one .gguf of a directory that is not a Hugging Face
 * model directory (no config.json). Null when `target` is neither.
 */
export const findGgufFile = (target: string): string | null => {
  let stat: fs.Stats
  try {
    stat = fs.statSync(target)
  } catch {
    return null
  }
  if (stat.isFile()) return target.toLowerCase().endsWith(".gguf") ? target : null
  if (!stat.isDirectory() || fs.existsSync(path.join(target, "config.json"))) return null
  const found = fs.readdirSync(target).filter((f) => f.toLowerCase().endsWith(".gguf")).sort()
  if (found.length > 1) {
    throw new ModelLoadError(target, `holds ${found.length} GGUF files (${found.join(", ")}); pass the one to serve`)
  }
  return found.length === 1 ? path.join(target, found[0]) : null
}

/** Reads a GGUF model: header, config, tokenizer, then the weights tensor by tensor. */
export const readGgufModel = (file: string, alloc?: MatrixAlloc): GgufModel => {
  const gguf = readGgufHeader(file)
  const meta = new GgufMetadata(file, gguf.metadata)
  const splits = meta.uint("split.count", 1)
  if (splits > 1) throw new ModelLoadError(file, `is part of a split GGUF (${splits} files); merge it first (llama-gguf-split --merge)`)
  const tokenizerSpec = ggufTokenizer(meta)
  const config = ggufModelConfig(gguf, meta, readSmallTensor(gguf, "rope_freqs.weight"), tokenizerSpec?.special ?? { bos: null, eos: [] })
  if (tokenizerSpec !== null) {
    const n = meta.stringArray("tokenizer.ggml.tokens").length
    if (n > config.vocabSize) throw new ModelLoadError(file, `the tokenizer has ${n} tokens but the embeddings only ${config.vocabSize} rows`)
  }
  const tokenizer = tokenizerSpec === null ? null : TextTokenizer.fromObjects(tokenizerSpec.json, tokenizerSpec.config, `${file} (tokenizer.ggml.*)`)
  const { weights, origins } = loadGgufWeights(gguf, config, alloc)
  return { gguf, config, weights, origins, tokenizer }
}
