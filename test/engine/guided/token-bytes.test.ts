import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { TextTokenizer } from "../../../src/engine/tokenizer.ts"
import { convertToGguf, PYTHON, tempPath } from "../../support/gguf.ts"
import { bundledModelDir } from "../../support/models.ts"

// The bytes guided decoding matches grammars against must be exactly the bytes the tokens spell: for any
// text, the concatenated bytes of its tokens are the text's UTF-8 (after the tokenizer's normalizer, e.g.
// SentencePiece's leading "▁"), for byte-level BPE, for SentencePiece with <0xXX> byte fallback, and for
// a tokenizer rebuilt from GGUF metadata. Special tokens have no bytes.
const TEXTS = [
  "In the beginning God created the heaven and the earth.",
  "Café naïve “quotes” — ✓ 日本語 🙂\ttab  and  spaces\n\nAmen.",
  "{\"name\": \"Ωμέγα\", \"n\": [1, 2.5e3], \"ok\": true}",
  "🙂🙃👍🏽👨‍👩‍👧‍👦", "   leading and trailing   ", "\r\nwindows\r\n", "a"
]

const spelled = (tok: TextTokenizer, ids: ReadonlyArray<number>): string => {
  const bytes = tok.tokenBytes(tok.vocabSize)
  return Buffer.concat(ids.map((id) => Buffer.from(bytes[id]!))).toString("utf8")
}

const checkTokenizer = (name: string, load: () => TextTokenizer, normalize: (text: string) => string) => {
  it(`${name}: tokens spell their text byte for byte; special tokens have no bytes`, () => {
    const tok = load()
    const bytes = tok.tokenBytes(tok.vocabSize)
    for (const text of TEXTS) expect(spelled(tok, tok.encode(text, false))).toBe(normalize(text))
    for (const id of tok.specialIds) expect(bytes[id]).toBeNull()
    expect(bytes.filter((b) => b !== null).length).toBeGreaterThan(tok.vocabSize - 10)
  })
}

describe("token bytes", () => {
  checkTokenizer("byte-level BPE (the bundled tokenizer)", () => TextTokenizer.fromDir(bundledModelDir), (t) => t)
  let spmDir: string | null = null
  const spm = () => {
    if (spmDir === null) {
      spmDir = tempPath("spm-model-token-bytes")
      execFileSync(PYTHON, ["tools/make_spm_tokenizer.py", spmDir])
    }
    return spmDir
  }
  // Llama 2's normalizer prepends "▁" (a space) and writes spaces as "▁".
  checkTokenizer("SentencePiece BPE with byte fallback", () => TextTokenizer.fromDir(spm()), (t) => ` ${t}`)
  checkTokenizer("SentencePiece rebuilt from a GGUF's metadata", () => loadModelDir(convertToGguf(spm(), "q8_0")).tokenizer!, (t) => ` ${t}`)
  checkTokenizer("byte-level BPE rebuilt from a GGUF's metadata", () => loadModelDir(convertToGguf(bundledModelDir, "q8_0")).tokenizer!, (t) => t)
})
