import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { ModelLoadError } from "../../src/engine/errors.ts"
import { loadModelDir } from "../../src/engine/model-dir.ts"
import { parseModelConfig } from "../../src/engine/config.ts"
import { randomConfig, randomWeights, rawConfig } from "../support/random-model.ts"
import { writeLlamaGguf } from "../support/gguf-writer.ts"
import { hfTensors, writeCheckpoint, type Dtype } from "../support/write-checkpoint.ts"
import { matrixDtype, toBf16Bits, toF32, type DenseMatrix, type WeightDtype } from "../../src/engine/matrix.ts"

const raw = rawConfig()
const weights = randomWeights(randomConfig(), 3)
const tensors = hfTensors(weights, raw)

const expectLoadError = (dir: string, ...fragments: Array<string>) => {
  let error: unknown
  try {
    loadModelDir(dir)
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(ModelLoadError)
  for (const f of fragments) expect((error as Error).message).toContain(f)
}

describe("model directory loader", () => {
  it.each<[Dtype, number, number]>([
    ["F32", 1, 0],
    ["F16", 1, 1e-3],
    ["BF16", 1, 8e-3],
    ["F32", 3, 0]
  ])("reads %s weights from %i file(s) exactly as stored", (dtype, shards, tolerance) => {
    const loaded = loadModelDir(writeCheckpoint(raw, tensors, { dtype, shards }))
    const l0 = loaded.model.weights.layers[1]
    const want = weights.layers[1]
    // Matrices stay at the checkpoint's precision; norms are f32.
    expect(matrixDtype(l0.q)).toBe({ F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype])
    expect(matrixDtype(loaded.model.weights.embed)).toBe(matrixDtype(l0.q))
    expect(l0.inputNorm).toBeInstanceOf(Float32Array)
    for (const key of ["q", "k", "down", "inputNorm"] as const) {
      const a = toF32(l0[key]), b = toF32(want[key])
      let worst = 0
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])))
      expect(worst).toBeLessThanOrEqual(tolerance)
    }
    expect(loaded.parameters).toBe(tensors.reduce((n, t) => n + t.data.length, 0))
    expect(loaded.model.weights.lmHead).not.toBe(loaded.model.weights.embed)
  })

  it.each<[Dtype, WeightDtype]>([["F32", "bfloat16"], ["F32", "float16"], ["BF16", "float32"], ["F16", "bfloat16"], ["BF16", "float16"]])(
    "converts %s matrices to --dtype %s (rounding to nearest even, widening exactly)",
    (stored, dtype) => {
      const dir = writeCheckpoint(raw, tensors, { dtype: stored })
      const asStored = toF32(loadModelDir(dir).model.weights.layers[0].gate)
      const got = loadModelDir(dir, { dtype }).model.weights.layers[0].gate
      expect(matrixDtype(got)).toBe(dtype)
      const want = dtype === "float32" ? asStored : dtype === "float16" ? Float16Array.from(asStored) : Uint16Array.from(asStored, toBf16Bits)
      expect(Array.from(got as DenseMatrix)).toEqual(Array.from(want))
    }
  )

  // The embedding (40000 x 64) is over 4 MiB in every precision: read straight into place when kept as
  // stored, converted across several read chunks otherwise.
  it.each<[Dtype, WeightDtype]>([["F32", "float16"], ["BF16", "float32"], ["F16", "bfloat16"]])(
    "reads a %s tensor larger than one read chunk exactly as stored, and as --dtype %s",
    (stored, dtype) => {
      const bigRaw = rawConfig({ vocab_size: 40000 })
      const w = randomWeights(randomConfig({ vocab_size: 40000 }), 5)
      const original = toF32(w.embed)
      const dir = writeCheckpoint(bigRaw, hfTensors(w, bigRaw), { dtype: stored })
      const roundTo = (d: WeightDtype, x: Float32Array) => (d === "float32" ? x : d === "float16" ? Float16Array.from(x) : Uint16Array.from(x, toBf16Bits))
      const storedAs = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const
      const asStored = loadModelDir(dir).model.weights.embed as DenseMatrix
      expect(asStored.byteLength).toBeGreaterThan(4 * 2 ** 20)
      expect(Buffer.from(asStored.buffer, asStored.byteOffset, asStored.byteLength).equals(Buffer.from(roundTo(storedAs[stored], original).buffer))).toBe(true)
      const converted = loadModelDir(dir, { dtype }).model.weights.embed as DenseMatrix
      expect(matrixDtype(converted)).toBe(dtype)
      expect(Array.from(converted)).toEqual(Array.from(roundTo(dtype, toF32(asStored))))
    }
  )

  it("refuses --dtype bfloat16 for a GGUF file, by name", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "inferline-gguf-")), "m.gguf")
    writeLlamaGguf(file, randomConfig(), weights, "F16")
    expect(matrixDtype(loadModelDir(file).model.weights.layers[0].q)).toBe("float32")
    expect(() => loadModelDir(file, { dtype: "bfloat16" })).toThrow(/--dtype bfloat16 applies to safetensors checkpoints/)
  })

  it("refuses float16 weights that are inf or NaN (in the checkpoint, or after --dtype float16 rounding), naming the tensor", () => {
    const poisoned = (v: number) => tensors.map((t) => (t.name === "model.layers.1.mlp.down_proj.weight" ? { ...t, data: Float32Array.from(t.data, (x, i) => (i === 7 ? v : x)) } : t))
    expectLoadError(writeCheckpoint(raw, poisoned(NaN), { dtype: "F16" }), "model.layers.1.mlp.down_proj.weight", "NaN at element 7")
    const big = writeCheckpoint(raw, poisoned(1e6), { dtype: "F32" })
    expect(() => loadModelDir(big, { dtype: "float16" })).toThrow(/"model.layers.1.mlp.down_proj.weight" holds an infinite value at element 7 as float16 \(a value beyond float16's 65504\? try --dtype bfloat16\)/)
    expect(matrixDtype(loadModelDir(big, { dtype: "bfloat16" }).model.weights.layers[1].down)).toBe("bfloat16")
  })

  it("ties lm_head to the embeddings when the config says so", () => {
    const tiedRaw = rawConfig({ tie_word_embeddings: true })
    const loaded = loadModelDir(writeCheckpoint(tiedRaw, tensors.filter((t) => t.name !== "lm_head.weight")))
    expect(loaded.model.weights.lmHead).toBe(loaded.model.weights.embed)
  })

  it("names the architecture when it is not supported", () => {
    const dir = writeCheckpoint(rawConfig({ architectures: ["GPT2LMHeadModel"] }), tensors)
    expectLoadError(dir, "config.json", "GPT2LMHeadModel", "LlamaForCausalLM")
  })

  it("names the missing tensor and its expected shape", () => {
    const dir = writeCheckpoint(raw, tensors.filter((t) => t.name !== "model.layers.1.mlp.up_proj.weight"))
    expectLoadError(dir, "model.layers.1.mlp.up_proj.weight", "[160, 64]")
  })

  it("names file, tensor and both shapes on a shape mismatch", () => {
    const bad = tensors.map((t) => t.name === "model.layers.0.self_attn.k_proj.weight" ? { ...t, shape: [64, 16], data: t.data.subarray(0, 64 * 16) } : t)
    const dir = writeCheckpoint(raw, bad)
    expectLoadError(dir, path.join(dir, "model.safetensors"), "model.layers.0.self_attn.k_proj.weight", "[64, 16]", "[16, 64]")
  })

  it("rejects a directory without weights or config", () => {
    const dir = writeCheckpoint(raw, tensors)
    fs.rmSync(path.join(dir, "model.safetensors"))
    expectLoadError(dir, "no model.safetensors")
    fs.rmSync(path.join(dir, "config.json"))
    expectLoadError(dir, "config.json", "not found")
  })

  it("reads head_dim overrides, GQA, Qwen2 biases, llama3 rope scaling and eos lists", () => {
    const c = parseModelConfig("x/config.json", rawConfig({
      architectures: ["Qwen2ForCausalLM"], head_dim: 32, num_attention_heads: 4, num_key_value_heads: 1, eos_token_id: [1, 2],
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }
    }))
    expect(c).toMatchObject({ headDim: 32, numHeads: 4, numKvHeads: 1, qkvBias: true, oBias: false, eosTokenIds: [1, 2] })
    expect(c.ropeScaling).toEqual({ type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 })
    expect(() => parseModelConfig("x/config.json", rawConfig({ num_attention_heads: 6, num_key_value_heads: 4 }))).toThrow(/multiple/)
    expect(() => parseModelConfig("x/config.json", rawConfig({ hidden_size: undefined }))).toThrow(/hidden_size/)
  })
})
