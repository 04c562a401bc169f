import { ModelLoadError } from "../errors.ts"
import type { SpecialTokenIds } from "./gguf-config.ts"
import type { GgufMetadata } from "./gguf-metadata.ts"

/**
 * A Hugging Face tokenizer.json (and tokenizer_config.json) equivalent of the tokenizer.ggml.* metadata,
 * so that GGUF models go through the same @huggingface/tokenizers and Jinja path as Hugging Face ones:
 *
 *  - "gpt2": byte-level BPE with merges; tokenizer.ggml.pre names the pre-tokenizer regex (llama.cpp's
 *    names), rebuilt as the Hugging Face pre-tokenizer the model was trained with;
 *  - "llama": SentencePiece BPE with scores and <0xXX> byte tokens; merges are derived from the scores
 *    (highest score first, as llama.cpp's SentencePiece tokenizer merges), as transformers' GGUF loader does.
 */

/** llama_token_type (tokenizer.ggml.token_type). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const

const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex })
const splitThenBytes = (regex: string) => ({
  type: "Sequence",
  pretokenizers: [{ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false }, byteLevel(false)]
})

const LLAMA3_NAMES = new Set(["llama-bpe", "llama3", "llama-v3"])

/** tokenizer.ggml.pre values (llama.cpp's names and aliases) -> the Hugging Face pre-tokenizer. */
const PRE_TOKENIZERS: Record<string, () => object> = {
  "gpt-2": () => byteLevel(true),
  "llama-bpe": () => splitThenBytes(LLAMA3_REGEX),
  llama3: () => splitThenBytes(LLAMA3_REGEX),
  "llama-v3": () => splitThenBytes(LLAMA3_REGEX),
  qwen2: () => splitThenBytes(QWEN2_REGEX),
  smollm: () => ({ type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)] })
}

/** Token texts llama.cpp treats as end of generation whatever the ids say (llama-vocab.cpp). */
const END_OF_GENERATION_TEXTS = new Set([
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>"
])

export interface GgufTokenizerSpec {
  /** A tokenizer.json object. */
  readonly json: Record<string, unknown>
  /** A tokenizer_config.json object (special token texts, chat template). */
  readonly config: Record<string, unknown>
  readonly special: SpecialTokenIds
}

interface Vocab {
  readonly tokens: ReadonlyArray<string>
  readonly types: ArrayLike<number>
}

const addedTokens = (v: Vocab) => {
  const out: Array<Record<string, unknown>> = []
  for (let id = 0; id < v.tokens.length; id++) {
    const t = v.types[id]
    if (t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN) {
      out.push({ id, content: v.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: t !== TokenType.USER_DEFINED })
    }
  }
  return out
}

const vocabObject = (tokens: ReadonlyArray<string>): Record<string, number> => {
  const vocab: Record<string, number> = {}
  tokens.forEach((t, id) => { vocab[t] = id })
  return vocab
}

/** BOS prepended by a TemplateProcessing post-processor, as Hugging Face tokenizers that add BOS have it. */
const bosProcessor = (bos: string, bosId: number) => ({
  type: "TemplateProcessing",
  single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
  pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
  special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } }
})

const bpeModel = (tokens: ReadonlyArray<string>, merges: ReadonlyArray<readonly [string, string]>, extra: Record<string, unknown>) => ({
  type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: vocabObject(tokens), merges, ...extra
})

const gpt2Tokenizer = (meta: GgufMetadata, v: Vocab) => {
  const pre = meta.string("tokenizer.ggml.pre", "default")
  const make = PRE_TOKENIZERS[pre]
  if (make === undefined) {
    throw new ModelLoadError(meta.file, `tokenizer.ggml.pre "${pre}" is not supported; supported: ${Object.keys(PRE_TOKENIZERS).join(", ")}`)
  }
  const merges = meta.stringArray("tokenizer.ggml.merges").map((m) => {
    const at = m.indexOf(" ", 1)
    if (at < 0) throw new ModelLoadError(meta.file, `tokenizer.ggml.merges entry ${JSON.stringify(m)} is not "left right"`)
    return [m.slice(0, at), m.slice(at + 1)] as const
  })
  return {
    normalizer: null,
    pre_tokenizer: make(),
    // Llama 3's tokenizer (and llama.cpp's for it) takes a pre-token that is a whole vocabulary entry as is.
    model: bpeModel(v.tokens, merges, { ignore_merges: LLAMA3_NAMES.has(pre) }),
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }
  }
}

/**
 * Merges from SentencePiece scores: every split of a token into two tokens is a merge, ranked by the score
 * of the merged token (highest first), ties in vocabulary order (transformers' generate_merges).
 */
const mergesFromScores = (tokens: ReadonlyArray<string>, scores: ArrayLike<number>, mergeable: (id: number) => boolean) => {
  const ids = new Map<string, number>()
  tokens.forEach((t, id) => { if (!ids.has(t)) ids.set(t, id) })
  const found: Array<{ left: string; right: string; score: number; order: number }> = []
  for (let id = 0; id < tokens.length; id++) {
    if (!mergeable(id)) continue
    const chars = Array.from(tokens[id])
    const local: Array<{ left: string; right: string; l: number; r: number }> = []
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join(""), right = chars.slice(i).join("")
      const l = ids.get(left), r = ids.get(right)
      if (l !== undefined && r !== undefined) local.push({ left, right, l, r })
    }
    local.sort((a, b) => a.l - b.l || a.r - b.r)
    for (const m of local) found.push({ left: m.left, right: m.right, score: scores[id], order: found.length })
  }
  found.sort((a, b) => b.score - a.score || a.order - b.order)
  return found.map((m) => [m.left, m.right] as const)
}

const spmTokenizer = (meta: GgufMetadata, v: Vocab) => {
  const scores = meta.numberArray("tokenizer.ggml.scores")
  if (scores.length !== v.tokens.length) {
    throw new ModelLoadError(meta.file, `tokenizer.ggml.scores has ${scores.length} entries for ${v.tokens.length} tokens`)
  }
  const spacePrefix = meta.bool("tokenizer.ggml.add_space_prefix", true)
  const unkId = meta.optionalUint("tokenizer.ggml.unknown_token_id")
  // llama.cpp's SentencePiece tokenizer may merge into any token of the vocabulary but unused ones.
  const merges = mergesFromScores(v.tokens, scores, (id) => v.types[id] !== TokenType.UNUSED)
  const replaceSpace = { type: "Replace", pattern: { String: " " }, content: "\u2581" }
  return {
    normalizer: spacePrefix ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, replaceSpace] } : replaceSpace,
    pre_tokenizer: null,
    model: bpeModel(v.tokens, merges, { unk_token: unkId === null ? null : v.tokens[unkId], fuse_unk: true, byte_fallback: true }),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" },
        ...(spacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : [])
      ]
    }
  }
}

const specialIds = (meta: GgufMetadata, v: Vocab): SpecialTokenIds => {
  const id = (key: string) => {
    const n = meta.optionalUint(`tokenizer.ggml.${key}`)
    if (n !== null && n >= v.tokens.length) throw new ModelLoadError(meta.file, `tokenizer.ggml.${key} ${n} is outside the vocabulary (${v.tokens.length} tokens)`)
    return n
  }
  const eos = new Set<number>()
  for (const key of ["eos_token_id", "eot_token_id", "eom_token_id"]) {
    const n = id(key)
    if (n !== null) eos.add(n)
  }
  v.tokens.forEach((t, i) => { if (END_OF_GENERATION_TEXTS.has(t)) eos.add(i) })
  return { bos: id("bos_token_id"), eos: [...eos].sort((a, b) => a - b) }
}

const SUPPORTED_TOKENIZER_MODELS = ["gpt2", "llama"] as const

/** The tokenizer a GGUF file's metadata describes, or null when it has none (tokenizer.ggml.model absent or "none"). */
export const ggufTokenizer = (meta: GgufMetadata): GgufTokenizerSpec | null => {
  const model = meta.string("tokenizer.ggml.model", "none")
  if (model === "none") return null
  if (model !== "gpt2" && model !== "llama") {
    throw new ModelLoadError(meta.file, `tokenizer.ggml.model "${model}" is not supported; supported: ${SUPPORTED_TOKENIZER_MODELS.join(", ")}`)
  }
  const tokens = meta.stringArray("tokenizer.ggml.tokens")
  const types = meta.has("tokenizer.ggml.token_type") ? meta.numberArray("tokenizer.ggml.token_type") : new Int32Array(tokens.length).fill(TokenType.NORMAL)
  if (types.length !== tokens.length) throw new ModelLoadError(meta.file, `tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`)
  const v: Vocab = { tokens, types }
  const special = specialIds(meta, v)
  const parts = model === "gpt2" ? gpt2Tokenizer(meta, v) : spmTokenizer(meta, v)
  const addBos = meta.bool("tokenizer.ggml.add_bos_token", model === "llama") && special.bos !== null
  const text = (n: number | null) => (n === null ? null : tokens[n])
  return {
    json: { version: "1.0", truncation: null, padding: null, added_tokens: addedTokens(v), ...parts, post_processor: addBos ? bosProcessor(tokens[special.bos!], special.bos!) : null },
    config: {
      bos_token: text(special.bos),
      eos_token: text(meta.optionalUint("tokenizer.ggml.eos_token_id")),
      chat_template: meta.optionalString("tokenizer.chat_template"),
      clean_up_tokenization_spaces: false
    },
    special
  }
}
