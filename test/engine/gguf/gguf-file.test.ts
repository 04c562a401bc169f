import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { ModelLoadError } from "../../../src/engine/errors.ts"
import { GgufValueType as T, readGgufHeader } from "../../../src/engine/gguf/gguf-file.ts"
import { loadModelDir } from "../../../src/engine/model-dir.ts"
import { tempPath } from "../../support/gguf.ts"
import { arr, bool, encodeGguf, f32, str, tinyLlamaSpec, u32, writeGguf, type GgufSpec } from "../../support/write-gguf.ts"

let n = 0
const write = (spec: GgufSpec) => writeGguf(tempPath(`reader-${n++}.gguf`), spec)

const expectError = (fn: () => unknown, ...fragments: Array<string>) => {
  let error: unknown
  try {
    fn()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(ModelLoadError)
  for (const f of fragments) expect((error as Error).message).toContain(f)
  return error as ModelLoadError
}

describe("GGUF header reader", () => {
  it("reads metadata of every value type, nested arrays included", () => {
    const file = write({
      metadata: [
        ["u8", { type: T.UINT8, value: 250 }], ["i8", { type: T.INT8, value: -120 }],
        ["u16", { type: T.UINT16, value: 65000 }], ["i16", { type: T.INT16, value: -32000 }],
        ["u32", u32(4_000_000_000)], ["i32", { type: T.INT32, value: -2_000_000_000 }],
        ["f32", f32(0.1)], ["f64", { type: T.FLOAT64, value: 0.1 }], ["yes", bool(true)], ["no", bool(false)],
        ["s", str("héllo ✓ 🙂")], ["empty", str("")],
        ["u64", { type: T.UINT64, value: 2n ** 53n - 1n }], ["u64big", { type: T.UINT64, value: 2n ** 64n - 1n }],
        ["i64", { type: T.INT64, value: -(2n ** 62n) }],
        ["a.i32", arr(T.INT32, [1, -2, 3])], ["a.f32", arr(T.FLOAT32, [0.5, -1.5])], ["a.u8", arr(T.UINT8, [0, 255])],
        ["a.str", arr(T.STRING, ["a", "", "ü b"])], ["a.bool", arr(T.BOOL, [true, false])],
        ["a.u64", arr(T.UINT64, [1n, 2n ** 63n])], ["a.f64", arr(T.FLOAT64, [1e300])],
        ["a.nested", arr(T.ARRAY, [arr(T.INT16, [1, 2]), arr(T.STRING, ["x"])])], ["a.empty", arr(T.UINT32, [])]
      ]
    })
    const g = readGgufHeader(file)
    const m = g.metadata
    expect(g.version).toBe(3)
    expect([m.get("u8"), m.get("i8"), m.get("u16"), m.get("i16"), m.get("u32"), m.get("i32")]).toEqual([250, -120, 65000, -32000, 4_000_000_000, -2_000_000_000])
    expect(m.get("f32")).toBe(Math.fround(0.1))
    expect(m.get("f64")).toBe(0.1)
    expect([m.get("yes"), m.get("no"), m.get("s"), m.get("empty")]).toEqual([true, false, "héllo ✓ 🙂", ""])
    expect(m.get("u64")).toBe(2 ** 53 - 1)
    expect(m.get("u64big")).toBe(2n ** 64n - 1n)
    expect(m.get("i64")).toBe(-(2n ** 62n))
    expect(m.get("a.i32")).toEqual(Int32Array.from([1, -2, 3]))
    expect(m.get("a.f32")).toEqual(Float32Array.from([0.5, -1.5]))
    expect(m.get("a.u8")).toEqual(Uint8Array.from([0, 255]))
    expect(m.get("a.str")).toEqual(["a", "", "ü b"])
    expect(m.get("a.bool")).toEqual([true, false])
    expect(m.get("a.u64")).toEqual(BigUint64Array.from([1n, 2n ** 63n]))
    expect(m.get("a.f64")).toEqual(Float64Array.from([1e300]))
    expect(m.get("a.nested")).toEqual([Int16Array.from([1, 2]), ["x"]])
    expect(m.get("a.empty")).toEqual(new Uint32Array(0))
    expect(g.tensors.size).toBe(0)
  })

  it("locates tensor data after the aligned header, with general.alignment honoured", () => {
    const data = Uint8Array.from({ length: 40 }, (_, i) => i)
    for (const alignment of [32, 64, 256]) {
      const file = write({
        alignment,
        metadata: alignment === 32 ? [] : [["general.alignment", u32(alignment)]],
        tensors: [
          { name: "a", dims: [10], typeId: 0, data },
          { name: "b", dims: [2, 5], typeId: 1, data: data.subarray(0, 20) }
        ]
      })
      const g = readGgufHeader(file)
      const bytes = fs.readFileSync(file)
      const a = g.tensors.get("a")!, b = g.tensors.get("b")!
      expect(g.dataOffset % alignment).toBe(0)
      expect([a.type, a.dims, a.byteLength, b.type, b.dims, b.byteLength]).toEqual(["F32", [10], 40, "F16", [2, 5], 20])
      expect(b.offset - a.offset).toBe(Math.ceil(40 / alignment) * alignment)
      expect(Uint8Array.from(bytes.subarray(a.offset, a.offset + 40))).toEqual(data)
      expect(Uint8Array.from(bytes.subarray(b.offset, b.offset + 20))).toEqual(data.subarray(0, 20))
    }
  })

  it("a file cut at any byte is a clear error, never a crash, a hang or a short tensor", () => {
    const spec = tinyLlamaSpec()
    const whole = encodeGguf({ ...spec, metadata: [...spec.metadata, ["tokens", arr(T.STRING, ["a", "b"])]] })
    const file = tempPath("cut.gguf")
    // Every cut inside the header, and a sample of cuts inside the tensor data.
    const header = readGgufHeader(writeGguf(file, { ...spec })).dataOffset
    const cuts = [...Array.from({ length: header + 40 }, (_, i) => i), ...Array.from({ length: 40 }, (_, i) => Math.floor(((i + 1) * whole.length) / 41))]
    for (const cut of cuts) {
      fs.writeFileSync(file, whole.subarray(0, cut))
      const e = expectError(() => loadModelDir(file), file)
      expect(e.message).toMatch(/truncated|too short|not a GGUF|corrupt/)
    }
  })

  it("names what is wrong in a corrupt header", () => {
    const file = tempPath("corrupt.gguf")
    fs.writeFileSync(file, Buffer.from("GGML\x03\0\0\0", "latin1"))
    expectError(() => readGgufHeader(file), 'not a GGUF file (magic "GGML"')
    expectError(() => readGgufHeader(write({ version: 1, metadata: [] })), "GGUF version 1 is not supported")
    expectError(() => readGgufHeader(write({ version: 0x03000000, metadata: [] })), "big-endian")
    expectError(() => readGgufHeader(write({ metadata: [["k", u32(1)], ["k", u32(2)]] })), 'metadata key "k" appears twice')
    expectError(() => readGgufHeader(write({ metadata: [["k", { type: 13, value: new Uint8Array(4) }]] })), '"k" has value type 13')
    expectError(() => readGgufHeader(write({ metadata: [["k", { type: T.BOOL, value: 7 }]] })), "bool byte is 7")
    expectError(() => readGgufHeader(write({ metadata: [["general.alignment", u32(24)]] })), "general.alignment must be a power of two")
    const t = { name: "t", dims: [32], typeId: 0, data: new Uint8Array(128) }
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [t, t] })), 'tensor "t" appears twice')
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, dims: [] }] })), 'tensor "t" has 0 dimensions')
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, dims: [1, 1, 1, 1, 32] }] })), 'tensor "t" has 5 dimensions')
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, dims: [-4] }] })), "negative dimension")
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, offset: 8n }] })), "not a multiple of the alignment")
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, dims: [64] }] })), 'tensor "t" (F32, 256 bytes', "runs past the end")
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, offset: 2n ** 62n }] })), "runs past the end")
    expectError(() => readGgufHeader(write({ metadata: [], tensors: [{ ...t, typeId: 8, dims: [48] }] })), "rows of 48 values, not a whole number of blocks")
  })

  it("rejects counts and lengths the file cannot hold before allocating for them", () => {
    const file = tempPath("huge.gguf")
    const header = Buffer.alloc(24)
    header.write("GGUF", 0, "latin1")
    header.writeUInt32LE(3, 4)
    header.writeBigUInt64LE(0n, 8)
    header.writeBigUInt64LE(2n ** 60n, 16)
    fs.writeFileSync(file, header)
    expectError(() => readGgufHeader(file), "metadata count is 1152921504606846976")
    const good = Buffer.from(encodeGguf({ metadata: [["s", str("abc")]] }))
    const at = good.indexOf("abc", 0, "latin1") - 8 // the string's u64 length
    good.writeBigUInt64LE(2n ** 40n, at)
    fs.writeFileSync(file, good)
    expectError(() => readGgufHeader(file), 'length of metadata "s" is 1099511627776')
    const arrays = Buffer.from(encodeGguf({ metadata: [["a", arr(T.UINT32, [7, 7])]] }))
    arrays.writeBigUInt64LE(2n ** 61n, arrays.length - 8 - 8)
    fs.writeFileSync(file, arrays)
    expectError(() => readGgufHeader(file), 'length of metadata "a" is 2305843009213693952')
  })
})

describe("GGUF model loading errors", () => {
  const spec = tinyLlamaSpec()
  const withMeta = (key: string, v: ReturnType<typeof u32> | null) => ({
    ...spec, metadata: [...spec.metadata.filter(([k]) => k !== key), ...(v === null ? [] : [[key, v] as const])]
  })

  it("loads the tiny hand-written model", () => {
    const m = loadModelDir(write(spec))
    expect(m.config).toMatchObject({ architecture: "LlamaForCausalLM", vocabSize: 16, hiddenSize: 32, numHeads: 2, numKvHeads: 1, headDim: 16, tieWordEmbeddings: true })
    expect(m.tokenizer).toBeNull()
  })

  it("names an unsupported architecture and lists the supported ones", () => {
    expectError(() => loadModelDir(write(withMeta("general.architecture", str("gemma2")))), 'unsupported architecture "gemma2"', "supported: llama", "qwen2")
  })

  it("names an unsupported tensor type and lists the supported ones", () => {
    const tensors = spec.tensors.map((t) => (t.name === "blk.0.ffn_up.weight" ? { ...t, typeId: 3 } : t))
    expectError(() => loadModelDir(write({ ...spec, tensors })), 'tensor "blk.0.ffn_up.weight" has type Q4_1', "supported: F32, F16, Q4_0, Q5_0, Q8_0, Q4_K, Q6_K, BF16")
    const unknown = spec.tensors.map((t) => (t.name === "blk.0.ffn_up.weight" ? { ...t, typeId: 77 } : t))
    expectError(() => loadModelDir(write({ ...spec, tensors: unknown })), "has type type 77")
  })

  it("names missing metadata, missing tensors, wrong shapes and unknown per-layer tensors", () => {
    expectError(() => loadModelDir(write(withMeta("llama.block_count", null))), 'missing required metadata "llama.block_count"')
    expectError(() => loadModelDir(write(withMeta("llama.block_count", str("one")))), 'metadata "llama.block_count" must be a non-negative integer, got "one"')
    expectError(() => loadModelDir(write({ ...spec, tensors: spec.tensors.filter((t) => t.name !== "blk.0.ffn_gate.weight") })), 'missing tensor "blk.0.ffn_gate.weight" (expected shape [64, 32])')
    const wrong = spec.tensors.map((t) => (t.name === "blk.0.attn_k.weight" ? { ...t, dims: [16, 32] } : t))
    expectError(() => loadModelDir(write({ ...spec, tensors: wrong })), 'tensor "blk.0.attn_k.weight" has shape [32, 16], expected [16, 32]')
    const extra = [...spec.tensors, { name: "blk.0.attn_q_norm.weight", dims: [16], typeId: 0, data: new Uint8Array(64) }]
    expectError(() => loadModelDir(write({ ...spec, tensors: extra })), 'tensor "blk.0.attn_q_norm.weight" is not part of the llama/qwen2 layout')
    expectError(() => loadModelDir(write(withMeta("llama.rope.scaling.type", str("yarn")))), 'unsupported llama.rope.scaling.type "yarn"')
    expectError(() => loadModelDir(write(withMeta("split.count", u32(3)))), "split GGUF (3 files)")
  })

  it("names an unsupported tokenizer model or pre-tokenizer", () => {
    const tok = (model: string, pre?: string) => ({
      ...spec,
      metadata: [...spec.metadata, ["tokenizer.ggml.model", str(model)] as const, ...(pre ? [["tokenizer.ggml.pre", str(pre)] as const] : []),
        ["tokenizer.ggml.tokens", arr(T.STRING, ["a", "b"])] as const, ["tokenizer.ggml.merges", arr(T.STRING, ["a b"])] as const]
    })
    expectError(() => loadModelDir(write(tok("bert"))), 'tokenizer.ggml.model "bert" is not supported; supported: gpt2, llama')
    expectError(() => loadModelDir(write(tok("gpt2", "deepseek-coder"))), 'tokenizer.ggml.pre "deepseek-coder" is not supported; supported: gpt-2')
  })

  it("a directory holding one .gguf loads it; two are an error naming both", () => {
    const dir = tempPath("gguf-dir")
    fs.mkdirSync(dir)
    writeGguf(`${dir}/only.gguf`, spec)
    expect(loadModelDir(dir).gguf!.file.file).toBe(`${dir}/only.gguf`)
    writeGguf(`${dir}/other.gguf`, spec)
    expectError(() => loadModelDir(dir), "holds 2 GGUF files (only.gguf, other.gguf)")
  })
})
