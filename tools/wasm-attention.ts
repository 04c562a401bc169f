/**
 * Generates the WAT of the paged-attention kernels for one (query token, head), per KV-cache type (f32,
 * f16). The softmax between them runs in JavaScript (WASM has no exp); see src/engine/wasm/simd-kernels.ts.
 *
 *   attn_scores_T(scores, q, pool, slots, n, ko, kvDim, headDim, scale):
 *     scores[j] = scale * sum_d q[d] * K[slots[j]][ko + d]           for j < n
 *   attn_values_T(out, probs, pool, slots, n, ko, kvDim, headDim):
 *     out[d] = sum_j probs[j] * V[slots[j]][ko + d]                  for d < headDim
 *
 * headDim must be a multiple of 4 (the caller falls back to the reference kernels otherwise). Exactness:
 * a score is one f32x4 accumulator over d in order, reduced (l0 + l1) + (l2 + l3), then scaled; an output
 * element is one lane accumulated over j in order. Neither depends on other tokens, heads or on how the
 * heads are split between threads.
 */
import { SIZE, widen4, type WeightType } from "./wasm-matmul.ts"

export const KV_TYPES: ReadonlyArray<WeightType> = ["f32", "f16"]

const scores = (t: WeightType): string => `
  (func (export "attn_scores_${t}") (param $scores i32) (param $q i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32) (param $scale f32)
    (local $j i32) (local $base i32) (local $d i32) (local $dEnd i32) (local $acc v128) (local $kv v128) (local $h v128)
    (local.set $dEnd (i32.shl (local.get $headDim) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $base (i32.add (local.get $pool) (i32.mul (i32.add (i32.mul
        (i32.load (i32.add (local.get $slots) (i32.shl (local.get $j) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (i32.const ${SIZE[t]}))))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $d (i32.const 0))
      (block $dd (loop $dl
        (br_if $dd (i32.ge_u (local.get $d) (local.get $dEnd)))
        ${widen4(t, `(i32.add (local.get $base) ${t === "f32" ? "(local.get $d)" : "(i32.shr_u (local.get $d) (i32.const 1))"})`, "$kv")}
        (local.set $acc (f32x4.relaxed_madd (v128.load (i32.add (local.get $q) (local.get $d))) (local.get $kv) (local.get $acc)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (br $dl)))
      (f32.store (i32.add (local.get $scores) (i32.shl (local.get $j) (i32.const 2))) (f32.mul (local.get $scale) (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
        (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))`

/** Output lanes d.. (4 * W of them) accumulated over every j, W independent accumulators. */
const valuesChunk = (t: WeightType, W: number): string => {
  const accs = Array.from({ length: W }, (_, i) => `$a${i}`)
  const off = (i: number) => `(i32.add (local.get $base) (i32.const ${i * 4 * SIZE[t]}))`
  return `${accs.map((a) => `(local.set ${a} (v128.const i32x4 0 0 0 0))`).join(" ")}
      (local.set $j (i32.const 0))
      (block $jd${W} (loop $jl${W}
        (br_if $jd${W} (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $p (f32x4.splat (f32.load (i32.add (local.get $probs) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $base (i32.add (local.get $pool) (i32.mul (i32.add (i32.add (i32.mul
          (i32.load (i32.add (local.get $slots) (i32.shl (local.get $j) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (local.get $d)) (i32.const ${SIZE[t]}))))
        ${accs.map((a, i) => `${widen4(t, off(i), "$kv")}
        (local.set ${a} (f32x4.relaxed_madd (local.get $p) (local.get $kv) (local.get ${a})))`).join("\n        ")}
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl${W})))
      ${accs.map((a, i) => `(v128.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $d) (i32.const ${4 * i})) (i32.const 2))) (local.get ${a}))`).join("\n      ")}`
}

const values = (t: WeightType): string => `
  (func (export "attn_values_${t}") (param $out i32) (param $probs i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32)
    (local $j i32) (local $d i32) (local $base i32) (local $p v128) (local $kv v128) (local $h v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $d (i32.const 0))
    ;; 16 lanes at a time (4 independent FMA chains), then 4 at a time.
    (block $d16d (loop $d16l
      (br_if $d16d (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $headDim)))
      ${valuesChunk(t, 4)}
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (br $d16l)))
    (block $d4d (loop $d4l
      (br_if $d4d (i32.gt_u (i32.add (local.get $d) (i32.const 4)) (local.get $headDim)))
      ${valuesChunk(t, 1)}
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (br $d4l))))`

/** The attention part of the kernels module. */
export const attentionWat = (): string => KV_TYPES.map((t) => scores(t) + values(t)).join("\n")
