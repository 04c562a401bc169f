/** The random SmolLM2-135M-shaped checkpoint the side-by-side and memory benches serve. */
import * as fs from "node:fs"
import * as path from "node:path"
import type { ModelConfig } from "../../src/engine/config.ts"
import type { ModelWeights } from "../../src/engine/weights.ts"
import { benchTokenizerJson } from "../../test/support/gguf-writer.ts"
import { randomConfig, randomWeights, rawConfig } from "../../test/support/random-model.ts"
import { hfTensors, writeCheckpoint, type Dtype } from "../../test/support/write-checkpoint.ts"

export const SMOLLM2_135M = {
  vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, tie_word_embeddings: true, rope_theta: 100000, max_position_embeddings: 8192
}

/** Random weights (seed 1) written as a `dtype` safetensors checkpoint in a fresh temp directory. */
export const writeSmolLm2Checkpoint = (dtype: Dtype): { dir: string; config: ModelConfig; weights: ModelWeights } => {
  const config = randomConfig(SMOLLM2_135M)
  const weights = randomWeights(config, 1)
  const dir = writeCheckpoint(rawConfig(SMOLLM2_135M), hfTensors(weights, rawConfig(SMOLLM2_135M)), { dtype })
  // A tokenizer, so that streamed chunks carry text (chunks without text are not sent).
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(benchTokenizerJson(config.vocabSize)))
  return { dir, config, weights }
}
