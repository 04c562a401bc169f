import type { LlamaModel } from "node-llama-cpp"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { TextTokenizer } from "../../../src/engine/tokenizer.ts"
import { convertToGguf, PYTHON, tempPath } from "../../support/gguf.ts"
import { loadLlamaCppModel } from "../../support/llama-cpp.ts"
import { bundledModelDir } from "../../support/models.ts"
import { execFileSync } from "node:child_process"

// Multilingual, emoji, whitespace and special-token text: the same ids from the Hugging Face tokenizer.json,
// from the tokenizer rebuilt out of the GGUF's tokenizer.ggml.* metadata, and from llama.cpp on that GGUF.
const TEXTS = [
  "In the beginning God created the heaven and the earth.",
  "Café naïve “quotes” — ✓ 日本語 🙂\ttab  and  spaces\n\nAmen.",
  "Привет, мир! Как дела?", "مرحبا بالعالم", "नमस्ते दुनिया", "Ελληνικά, עברית, 한국어, ไทย",
  "🙂🙃👍🏽👨‍👩‍👧‍👦 🏳️‍🌈", "   leading spaces and trailing   ", "\n\n\nnewlines\r\nwindows\r\n",
  "numbers 1234567 3.14159 and 1,000,000", "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
  "don't won't it's I'm you're we've they'll he'd", "function f(x) { return x * 2; } // comment",
  "a", " ", "x<|im_end|>y  <|endoftext|> z"
]

const CHAT = [
  { role: "system", content: "You are Inferline." },
  { role: "user", content: "Quote Genesis 1:1 🙂" },
  { role: "assistant", content: "In the beginning God created the heaven and the earth." }
]

const checkAgainst = (name: string, hfDir: () => string, ggufFile: () => string) => {
  describe(name, () => {
    let hf: TextTokenizer, gguf: TextTokenizer, llamaModel: LlamaModel
    beforeAll(async () => {
      hf = TextTokenizer.fromDir(hfDir())
      gguf = loadModelDir(ggufFile()).tokenizer!
      llamaModel = await loadLlamaCppModel(ggufFile())
    })
    afterAll(async () => {
      await llamaModel?.dispose()
    })

    it("encodes every text as the Hugging Face tokenizer.json does, with and without special tokens", () => {
      for (const t of TEXTS) {
        expect(gguf.encode(t), t).toEqual(hf.encode(t))
        expect(gguf.encode(t, false), t).toEqual(hf.encode(t, false))
      }
    })

    it("decodes as the Hugging Face tokenizer does (every token alone, and the texts' ids)", () => {
      for (let id = 0; id < hf.vocabSize; id++) expect(gguf.decode([id], false)).toBe(hf.decode([id], false))
      for (const t of TEXTS) {
        const ids = hf.encode(t)
        expect(gguf.decode(ids, false)).toBe(hf.decode(ids, false))
        expect(gguf.decode(ids, true)).toBe(hf.decode(ids, true))
      }
    })

    it("tokenizes every text as llama.cpp does on the same GGUF, and detokenizes alike", () => {
      for (const t of TEXTS) {
        const ids = gguf.encode(t, false)
        expect(Array.from(llamaModel.tokenize(t, true)), t).toEqual(ids)
        expect(llamaModel.detokenize(ids as Array<never>, true)).toBe(gguf.decode(ids, false))
      }
    })

    it("renders the chat template from tokenizer.chat_template as from tokenizer_config.json", () => {
      expect(gguf.hasChatTemplate).toBe(true)
      expect(gguf.applyChatTemplate(CHAT)).toBe(hf.applyChatTemplate(CHAT))
      expect([gguf.bosToken, gguf.eosToken]).toEqual([hf.bosToken, hf.eosToken])
    })
  })
}

describe("tokenizer from GGUF metadata", () => {
  checkAgainst("gpt2 BPE with merges (models/inferline-kjv)", () => bundledModelDir, () => convertToGguf(bundledModelDir, "f16"))

  // A SentencePiece-style ("llama") vocabulary with scores and <0xXX> byte tokens, derived from the bundled
  // tokenizer by tools/make_spm_tokenizer.py (Llama 2's tokenizer.json layout, BOS added).
  let spmDir: string | null = null
  const spm = () => {
    if (spmDir === null) {
      spmDir = tempPath("spm-model")
      execFileSync(PYTHON, ["tools/make_spm_tokenizer.py", spmDir])
    }
    return spmDir
  }
  checkAgainst("SentencePiece BPE with scores and byte fallback", spm, () => convertToGguf(spm(), "q8_0"))

  it("the SentencePiece GGUF really is a 'llama' vocabulary with byte tokens and BOS", () => {
    const g = loadModelDir(convertToGguf(spm(), "q8_0"))
    expect(g.gguf!.file.metadata.get("tokenizer.ggml.model")).toBe("llama")
    const ids = g.tokenizer!.encode("Café 🙂")
    expect(ids.map((i) => g.tokenizer!.idToToken(i))).toEqual(["<|endoftext|>", "▁Ca", "f", "<0xC3>", "<0xA9>", "▁", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>"])
  })

  it("end-of-generation ids: eos plus the tokens llama.cpp stops on by their text", () => {
    expect(loadModelDir(convertToGguf(bundledModelDir, "f16")).generation.eosTokenIds).toEqual([0, 2])
  })
})
