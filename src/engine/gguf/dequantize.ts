import { SUPPORTED_TENSOR_TYPES, type TensorType } from "./ggml-types.ts"

/**
 * Dequantization of ggml blocks to float32, bit-exact to ggml's dequantize_row_* (ggml-quants.c).
 *
 * Why plain double arithmetic is exact here: every product ggml forms (an f16 scale times a small integer
 * scale times a quant) has at most 23 significant bits, so it is exact in float32 and in double alike; the
 * one rounding step, Q4_K's `d1 * q - m1`, is a single float32 subtraction, and a double subtraction of two
 * floats rounded once to float32 gives the same result (double has more than 2 * 24 + 2 bits).
 * Storing into a Float32Array does that rounding.
 */

/** f16 bits -> float32 value, built from the bits (IEEE binary16, subnormals included). */
const HALF_TO_FLOAT = (() => {
  const bits = new Uint32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >> 10) & 0x1f
    let mant = h & 0x3ff
    if (exp === 0x1f) bits[h] = sign | 0x7f800000 | (mant << 13)
    else if (exp !== 0) bits[h] = sign | ((exp - 15 + 127) << 23) | (mant << 13)
    else if (mant === 0) bits[h] = sign
    else {
      // subnormal half: normalise into a float32 exponent
      let e = -14
      while ((mant & 0x400) === 0) {
        mant <<= 1
        e--
      }
      bits[h] = sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)
    }
  }
  return new Float32Array(bits.buffer)
})()

const half = (s: Uint8Array, o: number): number => HALF_TO_FLOAT[s[o] | (s[o + 1] << 8)]

type Dequantizer = (src: Uint8Array, dst: Float32Array, at: number, blocks: number) => void

const f32: Dequantizer = (src, dst, at, n) => {
  new Uint8Array(dst.buffer, dst.byteOffset + at * 4, n * 4).set(src.subarray(0, n * 4))
}

const f16: Dequantizer = (src, dst, at, n) => {
  for (let i = 0; i < n; i++) dst[at + i] = half(src, 2 * i)
}

const bf16: Dequantizer = (src, dst, at, n) => {
  // bf16 is the upper half of a float32: placed through an integer view, every bit pattern survives.
  const out = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, n)
  for (let i = 0; i < n; i++) out[i] = ((src[2 * i] | (src[2 * i + 1] << 8)) << 16) >>> 0
}

/** block_q8_0: d (f16), qs[32] (int8); y = qs * d. */
const q8_0: Dequantizer = (src, dst, at, blocks) => {
  for (let b = 0; b < blocks; b++) {
    const o = b * 34
    const d = half(src, o)
    const y = at + b * 32
    for (let j = 0; j < 32; j++) dst[y + j] = ((src[o + 2 + j] << 24) >> 24) * d
  }
}

/** block_q4_0: d (f16), qs[16]; value j is the low nibble of qs[j], value j+16 the high nibble, minus 8. */
const q4_0: Dequantizer = (src, dst, at, blocks) => {
  for (let b = 0; b < blocks; b++) {
    const o = b * 18
    const d = half(src, o)
    const y = at + b * 32
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]
      dst[y + j] = ((q & 0x0f) - 8) * d
      dst[y + j + 16] = ((q >> 4) - 8) * d
    }
  }
}

/** block_q5_0: d (f16), qh (u32 of 5th bits: bit j for value j), qs[16] nibbles as Q4_0; minus 16. */
const q5_0: Dequantizer = (src, dst, at, blocks) => {
  for (let b = 0; b < blocks; b++) {
    const o = b * 22
    const d = half(src, o)
    const qh = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0
    const y = at + b * 32
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j]
      dst[y + j] = (((q & 0x0f) | (((qh >>> j) & 1) << 4)) - 16) * d
      dst[y + j + 16] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d
    }
  }
}

/** get_scale_min_k4: the 6-bit scale (s = 0) or min (s = 1) of sub-block j from the 12 packed bytes at o. */
const kScale = (src: Uint8Array, o: number, j: number, s: 0 | 1): number => {
  if (j < 4) return src[o + j + 4 * s] & 63
  return s === 0
    ? (src[o + j + 4] & 0x0f) | ((src[o + j - 4] >> 6) << 4)
    : (src[o + j + 4] >> 4) | ((src[o + j] >> 6) << 4)
}

/** block_q4_K: d, dmin (f16), scales[12], qs[128]; 8 sub-blocks of 32: y = d*sc*q - dmin*m. */
const q4_K: Dequantizer = (src, dst, at, blocks) => {
  for (let b = 0; b < blocks; b++) {
    const o = b * 144
    const d = half(src, o)
    const dmin = half(src, o + 2)
    let y = at + b * 256
    for (let c = 0; c < 4; c++) {
      // float32 products, as ggml's `const float d1 = d * sc` (exact: f16 times a 6-bit integer)
      const d1 = d * kScale(src, o + 4, 2 * c, 0), m1 = dmin * kScale(src, o + 4, 2 * c, 1)
      const d2 = d * kScale(src, o + 4, 2 * c + 1, 0), m2 = dmin * kScale(src, o + 4, 2 * c + 1, 1)
      const q = o + 16 + 32 * c
      for (let l = 0; l < 32; l++) dst[y + l] = d1 * (src[q + l] & 0x0f) - m1
      for (let l = 0; l < 32; l++) dst[y + 32 + l] = d2 * (src[q + l] >> 4) - m2
      y += 64
    }
  }
}

/** block_q6_K: ql[128], qh[64], scales[16] (int8), d (f16); 16 sub-blocks of 16: y = d*sc*(q - 32). */
const q6_K: Dequantizer = (src, dst, at, blocks) => {
  for (let b = 0; b < blocks; b++) {
    const o = b * 210
    const d = half(src, o + 208)
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h
      const y = at + b * 256 + 128 * h
      for (let l = 0; l < 32; l++) {
        const is = l >> 4
        const hb = src[qh + l]
        const q1 = ((src[ql + l] & 0x0f) | ((hb & 3) << 4)) - 32
        const q2 = ((src[ql + l + 32] & 0x0f) | (((hb >> 2) & 3) << 4)) - 32
        const q3 = ((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32
        const q4 = ((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32
        dst[y + l] = d * ((src[sc + is] << 24) >> 24) * q1
        dst[y + l + 32] = d * ((src[sc + is + 2] << 24) >> 24) * q2
        dst[y + l + 64] = d * ((src[sc + is + 4] << 24) >> 24) * q3
        dst[y + l + 96] = d * ((src[sc + is + 6] << 24) >> 24) * q4
      }
    }
  }
}

const DEQUANTIZERS: Record<TensorType, Dequantizer> = { F32: f32, F16: f16, BF16: bf16, Q8_0: q8_0, Q4_0: q4_0, Q5_0: q5_0, Q4_K: q4_K, Q6_K: q6_K }

/**
 * Dequantizes `count` values (a whole number of blocks) of `type` from the raw bytes in `src` into
 * dst[at, at + count).
 */
export const dequantize = (type: TensorType, src: Uint8Array, dst: Float32Array, at: number, count: number): void => {
  const { blockValues, blockBytes } = SUPPORTED_TENSOR_TYPES[type]
  if (count % blockValues !== 0) throw new RangeError(`${type}: ${count} values is not a whole number of ${blockValues}-value blocks`)
  const blocks = count / blockValues
  if (src.length < blocks * blockBytes) throw new RangeError(`${type}: ${count} values need ${blocks * blockBytes} bytes, got ${src.length}`)
  if (at < 0 || at + count > dst.length) throw new RangeError(`${type}: destination [${at}, ${at + count}) outside [0, ${dst.length})`)
  DEQUANTIZERS[type](src, dst, at, type === "F32" || type === "F16" || type === "BF16" ? count : blocks)
}
