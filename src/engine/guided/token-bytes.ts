/**
 * The bytes each token stands for, from a tokenizer.json: what token masks need, since the grammar
 * works on bytes. Byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM) spells bytes with printable stand-ins
 * (bytes_to_unicode); SentencePiece-style vocabularies (Llama 2, Mistral) spell a space as U+2581 and
 * fall back to `<0xAB>` tokens for single bytes. Special added tokens stand for no text (null); other
 * added tokens for their content.
 */
export interface TokenTextFormat {
  readonly byteLevel: boolean
  readonly metaspace: boolean
  readonly byteFallback: boolean
}

type Json = Record<string, unknown>

const decoderTypes = (decoder: unknown): Array<Json> => {
  if (typeof decoder !== "object" || decoder === null) return []
  const d = decoder as Json
  return d.type === "Sequence" && Array.isArray(d.decoders) ? (d.decoders as Array<Json>) : [d]
}

export const tokenTextFormat = (tokenizerJson: Json): TokenTextFormat => {
  const decoders = decoderTypes(tokenizerJson.decoder)
  const pre = decoderTypes(tokenizerJson.pre_tokenizer)
  const model = (tokenizerJson.model ?? {}) as Json
  const byteLevel = decoders.some((d) => d.type === "ByteLevel") || pre.some((d) => d.type === "ByteLevel")
  const metaspace = !byteLevel && (decoders.some((d) => d.type === "Metaspace" || (d.type === "Replace" && JSON.stringify(d.pattern ?? "").includes("\u2581"))) || pre.some((d) => d.type === "Metaspace"))
  const byteFallback = model.byte_fallback === true || decoders.some((d) => d.type === "ByteFallback")
  return { byteLevel, metaspace, byteFallback }
}

/** GPT-2's bytes_to_unicode, inverted: stand-in character → byte. */
const BYTE_OF_CHAR: ReadonlyMap<string, number> = (() => {
  const printable: Array<number> = []
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b)
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b)
  for (let b = 0xae; b <= 0xff; b++) printable.push(b)
  const map = new Map<string, number>()
  let extra = 0
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) map.set(String.fromCodePoint(b), b)
    else map.set(String.fromCodePoint(256 + extra++), b)
  }
  return map
})()

const encoder = new TextEncoder()
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/

/** The bytes of one vocabulary token (not an added token), or null when it cannot be spelt. */
export const tokenBytesOf = (format: TokenTextFormat, token: string): Uint8Array | null => {
  if (format.byteLevel) {
    const out = new Uint8Array(token.length)
    let n = 0
    for (const ch of token) {
      const b = BYTE_OF_CHAR.get(ch)
      if (b === undefined) return encoder.encode(token) // not a byte-level spelling: take it as text
      out[n++] = b
    }
    return out.subarray(0, n)
  }
  if (format.byteFallback) {
    const m = BYTE_TOKEN.exec(token)
    if (m !== null) return Uint8Array.of(parseInt(m[1], 16))
  }
  return encoder.encode(format.metaspace ? token.replaceAll("\u2581", " ") : token)
}

/** Every token id's bytes: null for special tokens and ids the tokenizer does not know. */
export const vocabularyBytes = (
  tokenizerJson: Json,
  size: number,
  idToToken: (id: number) => string | undefined
): Array<Uint8Array | null> => {
  const format = tokenTextFormat(tokenizerJson)
  const added = new Map<number, { content: string; special: boolean }>()
  for (const t of (tokenizerJson.added_tokens ?? []) as Array<Json>) {
    if (typeof t.id === "number" && typeof t.content === "string") added.set(t.id, { content: t.content, special: t.special === true })
  }
  const out: Array<Uint8Array | null> = []
  for (let id = 0; id < size; id++) {
    const a = added.get(id)
    if (a !== undefined) {
      out.push(a.special ? null : encoder.encode(a.content))
      continue
    }
    const token = idToToken(id)
    out.push(token === undefined ? null : tokenBytesOf(format, token))
  }
  return out
}
