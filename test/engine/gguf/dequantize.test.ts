import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { dequantize } from "../../../src/engine/gguf/dequantize.ts"
import { SUPPORTED_TENSOR_TYPES, type TensorType } from "../../../src/engine/gguf/ggml-types.ts"
import { ggmlReference, tempPath } from "../../support/gguf.ts"
import { prng } from "../../support/random-model.ts"

const run = (type: TensorType, bytes: ArrayLike<number>, count: number) => {
  const out = new Float32Array(count)
  dequantize(type, Uint8Array.from(bytes), out, 0, count)
  return out
}

const half = (bits: number) => [bits & 0xff, bits >> 8]

describe("dequantization, hand-checked blocks", () => {
  it("Q8_0: q * d", () => {
    const qs = [-128, -1, 0, 1, 127, ...Array.from({ length: 27 }, (_, i) => i - 13)]
    const y = run("Q8_0", [...half(0x3800), ...qs.map((q) => q & 0xff)], 32) // d = 0.5
    expect(Array.from(y.subarray(0, 5))).toEqual([-64, -0.5, 0, 0.5, 63.5])
    expect(y[31]).toBe(6.5)
  })

  it("Q4_0: low nibbles are values 0-15, high nibbles 16-31, minus 8, times d", () => {
    const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4))
    const y = run("Q4_0", [...half(0x4000), ...qs], 32) // d = 2
    expect(Array.from(y.subarray(0, 4))).toEqual([-16, -14, -12, -10])
    expect(y[15]).toBe(14)
    expect(Array.from(y.subarray(16, 18))).toEqual([14, 12])
    expect(y[31]).toBe(-16)
  })

  it("Q5_0: the fifth bit of value j is bit j of qh, minus 16", () => {
    // d = 1; qs low nibble 1, high nibble 2; qh bits set for values 0, 3 and 17
    const qh = (1 << 0) | (1 << 3) | (1 << 17)
    const y = run("Q5_0", [...half(0x3c00), qh & 0xff, (qh >> 8) & 0xff, (qh >> 16) & 0xff, qh >>> 24, ...Array(16).fill(0x21)], 32)
    expect(Array.from(y.subarray(0, 4))).toEqual([1, -15, -15, 1]) // (1|16)-16, 1-16, 1-16, (1|16)-16
    expect(Array.from(y.subarray(16, 18))).toEqual([-14, 2]) // 2-16, (2|16)-16
  })

  it("Q4_K: 6-bit scales and mins packed in 12 bytes, y = d*sc*q - dmin*m", () => {
    // scales 1,2,3,4,5,6,7,63 and mins 0,1,2,3,4,5,6,40 packed as quantize_row_q4_K_ref does
    const scales = [1, 2, 3, 0xc4, 0, 1, 2, 0x83, 0x45, 0x56, 0x67, 0x8f]
    const y = run("Q4_K", [...half(0x3c00), ...half(0x3800), ...scales, ...Array(128).fill(0xc3)], 256) // d 1, dmin 0.5; nibbles 3 and 12
    // sub-block s covers values 32s..32s+31: even ones use the low nibble (3), odd ones the high nibble (12)
    const expected = [3 - 0, 24 - 0.5, 9 - 1, 48 - 1.5, 15 - 2, 72 - 2.5, 21 - 3, 756 - 20]
    for (let s = 0; s < 8; s++) {
      expect(y[32 * s]).toBe(expected[s])
      expect(y[32 * s + 31]).toBe(expected[s])
    }
  })

  it("Q6_K: 4 low bits from ql, 2 high bits from qh, int8 scale per 16 values, minus 32", () => {
    const ql = Array.from({ length: 128 }, (_, i) => ((i % 64) < 32 ? 0x21 : 0x43)) // low/high nibbles 1,2 then 3,4
    const qh = Array(64).fill(0)
    qh[0] = 0b11100100 // value 0 high bits 0, value 32 high bits 1, value 64: 2, value 96: 3
    const sc = Array.from({ length: 16 }, (_, i) => i + 1)
    sc[15] = -128 & 0xff
    const y = run("Q6_K", [...ql, ...qh, ...sc, ...half(0x3400)], 256) // d = 0.25
    expect([y[0], y[16], y[1]]).toEqual([0.25 * 1 * -31, 0.25 * 2 * -31, 0.25 * 1 * -31])
    expect([y[32], y[33], y[64], y[65], y[96], y[97]]).toEqual([0.25 * 3 * -13, 0.25 * 3 * -29, 0.25 * 5 * 2, 0.25 * 5 * -30, 0.25 * 7 * 20, 0.25 * 7 * -28])
    expect([y[128], y[255]]).toEqual([0.25 * 9 * -31, 0.25 * -128 * -28])
  })

  it("F16 for every bit pattern agrees with the platform's half floats; BF16 is the upper half of an f32", () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i)
    const halves = new Float16Array(bits.buffer)
    const y = run("F16", new Uint8Array(bits.buffer), 65536)
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(halves[i])) expect(Number.isNaN(y[i])).toBe(true)
      else expect(y[i]).toBe(halves[i])
    }
    expect(y[1]).toBe(2 ** -24)
    const b = run("BF16", [0x80, 0x3f, 0x00, 0xc0, 0x01, 0x00], 3)
    expect(Array.from(new Uint32Array(b.buffer))).toEqual([0x3f800000, 0xc0000000, 0x00010000])
  })

  it("refuses partial blocks and short input", () => {
    expect(() => dequantize("Q4_K", new Uint8Array(144), new Float32Array(256), 0, 128)).toThrow(/whole number of 256-value blocks/)
    expect(() => dequantize("Q8_0", new Uint8Array(33), new Float32Array(32), 0, 32)).toThrow(/need 34 bytes/)
  })
})

describe("dequantization is bit-exact to ggml's dequantize_row_* (node-llama-cpp's libggml-base)", () => {
  // Random blocks: random quants, scale fields random finite f16 values (NaN scales aside, every byte pattern).
  const SCALE_FIELDS: Record<string, ReadonlyArray<number>> = { Q8_0: [0], Q4_0: [0], Q5_0: [0], Q4_K: [0, 2], Q6_K: [208] }
  const randomBlocks = (type: TensorType, blocks: number, seed: number): Uint8Array => {
    const rand = prng(seed)
    const { blockBytes } = SUPPORTED_TENSOR_TYPES[type]
    const out = Uint8Array.from({ length: blocks * blockBytes }, () => Math.floor(rand() * 256))
    for (let b = 0; b < blocks; b++) {
      for (const at of SCALE_FIELDS[type]) {
        // exponent 1..30 (finite), random sign and mantissa; some blocks get tiny (subnormal) scales
        const exp = b % 7 === 0 ? 0 : 1 + Math.floor(rand() * 30)
        const bits = (rand() < 0.5 ? 0x8000 : 0) | (exp << 10) | Math.floor(rand() * 1024)
        out[b * blockBytes + at] = bits & 0xff
        out[b * blockBytes + at + 1] = bits >> 8
      }
    }
    return out
  }

  for (const [type, name] of [["Q8_0", "q8_0"], ["Q4_0", "q4_0"], ["Q5_0", "q5_0"], ["Q4_K", "q4_K"], ["Q6_K", "q6_K"]] as const) {
    it(type, () => {
      const blocks = 2048
      const raw = randomBlocks(type, blocks, 1234 + blocks)
      const count = blocks * SUPPORTED_TENSOR_TYPES[type].blockValues
      const src = tempPath(`blocks-${name}.bin`), dst = tempPath(`values-${name}.bin`)
      fs.writeFileSync(src, raw)
      ggmlReference("dequantize", name, src, dst)
      const want = new Uint32Array(new Uint8Array(fs.readFileSync(dst)).buffer)
      const got = new Uint32Array(run(type, raw, count).buffer)
      expect(want.length).toBe(count)
      let differing = 0
      for (let i = 0; i < count; i++) if (got[i] !== want[i]) differing++
      expect(differing).toBe(0)
    })
  }

  it("and tools/gguflib's quantizers write the bytes ggml's quantize_row_*_ref writes", () => {
    const report = ggmlReference("check-quantizers")
    expect(report).not.toContain("DIFFER")
    expect(report.match(/identical, dequantized values identical/g)?.length).toBe(20)
  })
})
