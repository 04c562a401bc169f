import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A Llama-shaped BF16 checkpoint of any size, written fast: every tensor filled with small pseudo-random
 * bf16 values (+-[2^-7, 2^-6)) from one 4 MiB block, streamed to the file. For tests of what loading
 * costs (memory, time), where the values do not matter but must be real bytes (no zero pages) and finite.
 */
export const writeFillerCheckpoint = (raw: { hidden_size: number; intermediate_size: number; num_hidden_layers: number; num_attention_heads: number; num_key_value_heads: number; vocab_size: number } & Record<string, unknown>): string => {
  const h = raw.hidden_size, im = raw.intermediate_size, headDim = h / raw.num_attention_heads
  const qDim = raw.num_attention_heads * headDim, kvDim = raw.num_key_value_heads * headDim
  const tensors: Array<[string, Array<number>]> = [["model.embed_tokens.weight", [raw.vocab_size, h]]]
  for (let i = 0; i < raw.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`
    tensors.push(
      [`${p}input_layernorm.weight`, [h]], [`${p}self_attn.q_proj.weight`, [qDim, h]], [`${p}self_attn.k_proj.weight`, [kvDim, h]],
      [`${p}self_attn.v_proj.weight`, [kvDim, h]], [`${p}self_attn.o_proj.weight`, [h, qDim]], [`${p}post_attention_layernorm.weight`, [h]],
      [`${p}mlp.gate_proj.weight`, [im, h]], [`${p}mlp.up_proj.weight`, [im, h]], [`${p}mlp.down_proj.weight`, [h, im]]
    )
  }
  tensors.push(["model.norm.weight", [h]])
  if (raw.tie_word_embeddings !== true) tensors.push(["lm_head.weight", [raw.vocab_size, h]])

  const header: Record<string, unknown> = {}
  let offset = 0
  for (const [name, shape] of tensors) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1)
    header[name] = { dtype: "BF16", shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  json += " ".repeat((8 - (json.length % 8)) % 8)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-filler-"))
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ architectures: ["LlamaForCausalLM"], rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 2048, ...raw }))
  const fd = fs.openSync(path.join(dir, "model.safetensors"), "w")
  try {
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(json.length))
    fs.writeSync(fd, len)
    fs.writeSync(fd, json)
    const block = fillerBlock(1 << 22)
    for (let left = offset; left > 0; left -= Math.min(left, block.length)) fs.writeSync(fd, block, 0, Math.min(left, block.length))
  } finally {
    fs.closeSync(fd)
  }
  return dir
}

/** `bytes` of bf16 values: sign and mantissa from xorshift32, exponent fixed at 2^-7. */
const fillerBlock = (bytes: number): Buffer => {
  const words = new Uint32Array(bytes / 4)
  let x = 2463534242
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = ((x & 0x807f807f) | 0x3c003c00) >>> 0
  }
  return Buffer.from(words.buffer)
}
