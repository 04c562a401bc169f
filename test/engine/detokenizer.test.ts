import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { IncrementalDetokenizer } from "../../src/engine/detokenizer.ts"
import { TextTokenizer } from "../../src/engine/tokenizer.ts"

/** GPT-2's byte-to-unicode table: every byte gets a printable character, so BPE works on bytes. */
const bytesToUnicode = (): Array<string> => {
  const printable: Array<number> = []
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b)
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b)
  for (let b = 0xae; b <= 0xff; b++) printable.push(b)
  const table = new Array<string>(256)
  let extra = 0
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++)
  return table
}

const EOS = "<|endoftext|>"

/**
 * A byte-level BPE tokenizer as GPT-2 lays it out: the 256 byte tokens, a few merges (so some tokens
 * are words with a leading space, and "é" is one token), and a special end-of-text token.
 */
const writeTinyTokenizer = (dir: string): void => {
  const bytes = bytesToUnicode()
  const vocab: Record<string, number> = {}
  bytes.forEach((ch, b) => (vocab[ch] = b))
  const merges: Array<[string, string]> = [
    ["Ġ", "w"], ["o", "r"], ["Ġw", "or"], ["l", "d"], ["Ġwor", "ld"],
    ["H", "e"], ["l", "l"], ["He", "ll"], ["Hell", "o"],
    [bytes[0xc3], bytes[0xa9]] // é
  ]
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length
  const eosId = Object.keys(vocab).length
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: eosId, content: EOS, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges }
  }))
  // vLLM's detokenizer never applies the " ." -> "." clean-up, so decode() must not either.
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: EOS, clean_up_tokenization_spaces: false }))
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-detok-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
writeTinyTokenizer(dir)
const tok = TextTokenizer.fromDir(dir)
const eosId = tok.tokenToId(EOS) as number

/** Every push's text, then the flush. */
const stream = (t: TextTokenizer, prompt: ReadonlyArray<number>, output: ReadonlyArray<number>, skipSpecialTokens = true) => {
  const d = new IncrementalDetokenizer(t, prompt, skipSpecialTokens)
  const pushes = output.map((id) => d.push(id))
  return { pushes, flushed: d.flush() }
}

const roundTrip = (t: TextTokenizer, prompt: string, output: string) => {
  const promptIds = t.encode(prompt, false)
  const ids = t.encode(output, false)
  const { pushes, flushed } = stream(t, promptIds, ids)
  expect(pushes.filter((p) => p.includes("\uFFFD"))).toEqual([])
  expect(pushes.join("") + flushed).toBe(t.decode(ids))
  expect(pushes.join("") + flushed).toBe(output)
}

const SAMPLES = ["Hello world", "café au lait, é!", "日本語のテキスト", "party 🎉🎉 done 👍🏽", " leading spaces and\n\nnewlines ", "mixed: Ωmega ß 中文 🇯🇵 end"]

describe("IncrementalDetokenizer", () => {
  it("the test tokenizer splits multi-byte characters over several byte tokens", () => {
    expect(tok.encode("日", false)).toHaveLength(3)
    expect(tok.encode("🎉", false)).toHaveLength(4)
    expect(tok.encode("é", false)).toHaveLength(1)
  })

  it.each(SAMPLES)("pushes + flush reproduce decode(all ids), never a partial character: %j", (text) => {
    roundTrip(tok, "Prompt:", text)
  })

  it("emits a multi-byte character only with its last byte", () => {
    const ids = tok.encode("日本", false)
    expect(stream(tok, [], ids).pushes).toEqual(["", "", "日", "", "", "本"])
    const emoji = tok.encode("a🎉", false)
    expect(stream(tok, [], emoji).pushes).toEqual(["a", "", "", "", "🎉"])
  })

  it("flush releases an unfinished character as decode() shows it", () => {
    const ids = tok.encode("x日", false).slice(0, 3)
    const { pushes, flushed } = stream(tok, [], ids)
    expect(pushes).toEqual(["x", "", ""])
    expect(flushed).toBe(tok.decode(ids).slice(1))
    expect(flushed).toContain("\uFFFD")
  })

  it("keeps the leading space of the first output token", () => {
    const prompt = tok.encode("Hello", false)
    const out = tok.encode(" world world", false)
    expect(stream(tok, prompt, out).pushes).toEqual([" world", " world"])
  })

  it("uses prompt context so a SentencePiece-style decoder keeps the first output token's space", () => {
    // The Metaspace decoder drops the leading space of whatever it decodes first, so "▁world" alone is "world".
    const spDir = fs.mkdtempSync(path.join(dir, "sp-"))
    fs.writeFileSync(path.join(spDir, "tokenizer.json"), JSON.stringify({
      version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null,
      decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      model: { type: "BPE", dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab: { "▁Hello": 0, "▁world": 1, "!": 2 }, merges: [] }
    }))
    const sp = TextTokenizer.fromDir(spDir)
    expect(sp.decode([1])).toBe("world")
    expect(stream(sp, [0], [1, 2, 1]).pushes).toEqual([" world", "!", " world"])
    // Without a prompt there is nothing before the first token, and decode() agrees.
    expect(stream(sp, [], [1, 2]).pushes.join("")).toBe(sp.decode([1, 2]))
  })

  it("skips special tokens when asked, shows them otherwise", () => {
    const ids = [...tok.encode("Hello", false), eosId, ...tok.encode(" world", false)]
    expect(stream(tok, [], ids, true).pushes.join("")).toBe("Hello world")
    expect(stream(tok, [], ids, false).pushes.join("")).toBe(`Hello${EOS} world`)
    expect(stream(tok, [eosId], [eosId], true).pushes).toEqual([""])
  })

  it("a special token in the prompt context does not leak into the output", () => {
    const prompt = [...tok.encode("Hi", false), eosId]
    expect(stream(tok, prompt, tok.encode(" world", false), false).pushes).toEqual([" world"])
    expect(stream(tok, prompt, tok.encode(" world", false), true).pushes).toEqual([" world"])
  })

  it("long outputs stay exact once old tokens are dropped from the window", () => {
    const text = "Hello world é 日本 🎉 ".repeat(30)
    roundTrip(tok, "", text)
  })

  const kjvDir = path.resolve(import.meta.dirname, "../../models/inferline-kjv")
  it.skipIf(!fs.existsSync(path.join(kjvDir, "tokenizer.json")))("round-trips on the inferline-kjv tokenizer", () => {
    const kjv = TextTokenizer.fromDir(kjvDir)
    roundTrip(kjv, "In the beginning", " God created the heaven and the earth.\n\nAnd the earth was without form, and void; 日本 é 🎉")
  })
})
