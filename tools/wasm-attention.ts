/**
 * Generates the WAT of the paged-attention kernels for one (query token, head), per KV-cache type (f32,
 * f16), and the softmax between them (in float64, as the reference kernels compute it); see
 * src/engine/wasm/simd-attention.ts.
 *
 *   attn_scores_T(scores, q, pool, slots, n, ko, kvDim, headDim, scale):
 *     scores[j] = scale * sum_d q[d] * K[slots[j]][ko + d]           for j < n
 *   attn_values_T(out, probs, pool, slots, n, ko, kvDim, headDim):
 *     out[d] = sum_j probs[j] * V[slots[j]][ko + d]                  for d < headDim
 *   attn_softmax(p, e, n):
 *     p[j] = exp(p[j] - max) / sum    for j < n, in float64 (e: n float64 of scratch), rounded to f32
 *
 * headDim must be a multiple of 4 (the caller falls back to the reference kernels otherwise). Exactness:
 * a score is one f32x4 accumulator over d in order, reduced (l0 + l1) + (l2 + l3), then scaled (keys are
 * taken 8 or 4 at a time only to overlap their FMA chains); an output element is one lane accumulated over j
 * in order (lanes taken 32, 16 or 4 at a time only to overlap chains); the softmax's sum is taken over j in order. None
 * depends on other tokens, heads or on how the heads are split between threads.
 */
import { loop, SIZE, widen4, type WeightType } from "./wasm-matmul.ts"

export const KV_TYPES: ReadonlyArray<WeightType> = ["f32", "f16"]

/** `(local.set $v (i32.add (local.get $v) (i32.const n)))` */
const advance = (v: string, n: number) => `(local.set ${v} (i32.add (local.get ${v}) (i32.const ${n})))`

/** Byte address of key/value row `slots[j + i]` of the pool, head offset included, into local `$b<i>`. */
const rowAddress = (t: WeightType, i: number): string =>
  `(local.set $b${i} (i32.add (local.get $pool) (i32.mul (i32.add (i32.mul
        (i32.load (i32.add (local.get $slots) (i32.shl (i32.add (local.get $j) (i32.const ${i})) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (i32.const ${SIZE[t]}))))`

/** The K row at `base` plus the q offset $d (f16 rows are half as many bytes). */
const kAt = (t: WeightType, base: string) => `(i32.add (local.get ${base}) ${t === "f32" ? "(local.get $d)" : "(i32.shr_u (local.get $d) (i32.const 1))"})`

/** scores[j + i] = scale * the lanes of accumulator $a<i>, reduced (l0 + l1) + (l2 + l3). */
const storeScore = (i: number): string =>
  `(f32.store (i32.add (local.get $scores) (i32.shl (i32.add (local.get $j) (i32.const ${i})) (i32.const 2))) (f32.mul (local.get $scale) (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $a${i})) (f32x4.extract_lane 1 (local.get $a${i})))
        (f32.add (f32x4.extract_lane 2 (local.get $a${i})) (f32x4.extract_lane 3 (local.get $a${i}))))))`

/** Scores of keys $j.. K at a time while $j < `end`: K accumulators (one per key) sharing each load of q. */
const keyGroups = (t: WeightType, K: number, end: string): string => {
  const keys = Array.from({ length: K }, (_, i) => i)
  return loop(`keys${K}`, `(i32.lt_u (local.get $j) ${end})`, `${keys.map((i) => rowAddress(t, i)).join("\n      ")}
      ${keys.map((i) => `(local.set $a${i} (v128.const i32x4 0 0 0 0))`).join(" ")}
      (local.set $d (i32.const 0))
      ${loop(`dims${K}`, "(i32.lt_u (local.get $d) (local.get $dEnd))", `(local.set $qv (v128.load (i32.add (local.get $q) (local.get $d))))
        ${keys.map((i) => `${widen4(t, kAt(t, `$b${i}`), "$kv")}
        (local.set $a${i} (f32x4.relaxed_madd (local.get $qv) (local.get $kv) (local.get $a${i})))`).join("\n        ")}`, advance("$d", 16))}
      ${keys.map((i) => storeScore(i)).join("\n      ")}`, advance("$j", K))
}

/**
 * Keys 8 at a time, then 4: independent accumulators (one FMA chain per key, so the chains overlap
 * instead of each waiting on its own FMA latency) sharing each load of q; then the last n mod 4 keys one
 * at a time.
 * Every key's score is the same one-accumulator sum either way.
 */
const scores = (t: WeightType): string => `
  (func (export "attn_scores_${t}") (param $scores i32) (param $q i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32) (param $scale f32)
    (local $j i32) (local $n4 i32) (local $d i32) (local $dEnd i32) (local $qv v128) (local $kv v128) (local $h v128)
    ${Array.from({ length: 8 }, (_, i) => `(local $b${i} i32) (local $a${i} v128)`).join(" ")} (local $n8 i32)
    (local.set $dEnd (i32.shl (local.get $headDim) (i32.const 2)))
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $j (i32.const 0))
    ${keyGroups(t, 8, "(local.get $n8)")}
    ${keyGroups(t, 4, "(local.get $n4)")}
    ${keyGroups(t, 1, "(local.get $n)")})`

/** Output lanes d.. (4 * W of them) accumulated over every j, W independent accumulators. */
const valuesChunk = (t: WeightType, W: number): string => {
  const accs = Array.from({ length: W }, (_, i) => `$a${i}`)
  const off = (i: number) => `(i32.add (local.get $base) (i32.const ${i * 4 * SIZE[t]}))`
  return `${accs.map((a) => `(local.set ${a} (v128.const i32x4 0 0 0 0))`).join(" ")}
      (local.set $j (i32.const 0))
      ${loop(`j${W}`, "(i32.lt_u (local.get $j) (local.get $n))", `(local.set $p (f32x4.splat (f32.load (i32.add (local.get $probs) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $base (i32.add (local.get $pool) (i32.mul (i32.add (i32.add (i32.mul
          (i32.load (i32.add (local.get $slots) (i32.shl (local.get $j) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (local.get $d)) (i32.const ${SIZE[t]}))))
        ${accs.map((a, i) => `${widen4(t, off(i), "$kv")}
        (local.set ${a} (f32x4.relaxed_madd (local.get $p) (local.get $kv) (local.get ${a})))`).join("\n        ")}`, advance("$j", 1))}
      ${accs.map((a, i) => `(v128.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $d) (i32.const ${4 * i})) (i32.const 2))) (local.get ${a}))`).join("\n      ")}`
}

const values = (t: WeightType): string => `
  (func (export "attn_values_${t}") (param $out i32) (param $probs i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32)
    (local $j i32) (local $d i32) (local $base i32) (local $p v128) (local $kv v128) (local $h v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $d (i32.const 0))
    ;; 32 lanes at a time (8 independent FMA chains), then 16 (4 chains), then 4.
    ${[8, 4, 1].map((W) => loop(`lanes${W}`, `(i32.le_u (i32.add (local.get $d) (i32.const ${4 * W})) (local.get $headDim))`, valuesChunk(t, W), advance("$d", 4 * W))).join("\n    ")})`

const f64x2 = (x: number | string) => `(v128.const f64x2 ${x} ${x})`

/** 2^52 + 1023: k + this, for an integral k in [-1022, 1023], holds the biased exponent k + 1023 in its low bits. */
const EXPONENT_MAGIC = f64x2("0x1.00000000003ffp52")

/**
 * Statements setting local $q to exp of the 2 float64 lanes of local $x, x <= 0 (a softmax's exponents;
 * clamped at -708, where exp is ~0 anyway): x = k ln2 + r with ln2 split in two (fdlibm's Cody-Waite
 * constants, so r is exact to ~1e-20), exp(r) by its Taylor series to degree 12 (|r| <= ln2/2: truncation
 * < 2e-16 relative) evaluated by Estrin's scheme (pairs combined with r^2, r^4, r^8: a short dependency
 * chain instead of 12 sequential steps), times 2^k built from bits. Within a few ulp of Math.exp: the
 * probabilities it makes, rounded to f32, are the reference's (checked bit for bit in the kernel tests).
 * Inline (not a function) so the loop around it overlaps iterations.
 */
const expF64 = (): string => {
  const c = (d: number) => f64x2(1 / factorial(d))
  const pair = (d: number) => `(f64x2.add ${c(d)} (f64x2.mul ${c(d + 1)} (local.get $r)))`
  const r2 = "(local.get $r2)", r4 = "(local.get $r4)"
  return `(local.set $x (f64x2.pmax (local.get $x) ${f64x2(-708)}))
      (local.set $k (f64x2.nearest (f64x2.mul (local.get $x) ${f64x2("1.4426950408889634")})))
      (local.set $r (f64x2.sub (f64x2.sub (local.get $x) (f64x2.mul (local.get $k) ${f64x2("6.93147180369123816490e-01")}))
        (f64x2.mul (local.get $k) ${f64x2("1.90821492927058770002e-10")})))
      (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
      (local.set $r4 (f64x2.mul ${r2} ${r2}))
      (local.set $q (f64x2.add
        (f64x2.add (f64x2.add ${pair(0)} (f64x2.mul ${r2} ${pair(2)})) (f64x2.mul ${r4} (f64x2.add ${pair(4)} (f64x2.mul ${r2} ${pair(6)}))))
        (f64x2.mul (f64x2.mul ${r4} ${r4}) (f64x2.add (f64x2.add ${pair(8)} (f64x2.mul ${r2} ${pair(10)})) (f64x2.mul ${r4} ${c(12)})))))
      (local.set $q (f64x2.mul (local.get $q) (i64x2.shl (f64x2.add (local.get $k) ${EXPONENT_MAGIC}) (i32.const 52))))`
}

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1)
}

/**
 * In place over p[0, n): exp(p[j] - max) / sum in float64, rounded to f32: the max over the lanes (pmax
 * skips a NaN as the reference's comparison does), exps two at a time into e with their sum taken in j
 * order as they come (the reference's order), then the quotients.
 */
const pAt = (j: string) => `(i32.add (local.get $p) (i32.shl ${j} (i32.const 2)))`
const eAt = (j: string) => `(i32.add (local.get $e) (i32.shl ${j} (i32.const 3)))`
/** $x = the f32 values `load` gives (2 lanes; a load of 1 leaves lane 1 0) minus the max, in float64. */
const exponentsOf = (load: string) => `(local.set $x (f64x2.sub (f64x2.promote_low_f32x4 ${load}) (local.get $mx)))`
/** max = v when v > max (a NaN v never wins, as in the reference's comparison). */
const keepMax = "(if (f32.gt (local.get $v) (local.get $max)) (then (local.set $max (local.get $v))))"
const addLane = (l: number) => `(local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane ${l} (local.get $q))))`

const SOFTMAX = `
  (func (export "attn_softmax") (param $p i32) (param $e i32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $n2 i32) (local $m4 v128) (local $max f32) (local $v f32) (local $mx v128) (local $sum f64) (local $s2 v128)
    (local $x v128) (local $k v128) (local $r v128) (local $r2 v128) (local $r4 v128) (local $q v128)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $n2 (i32.and (local.get $n) (i32.const -2)))
    (local.set $m4 (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $j (i32.const 0))
    ${loop("max4", "(i32.lt_u (local.get $j) (local.get $n4))", `(local.set $m4 (f32x4.pmax (local.get $m4) (v128.load ${pAt("(local.get $j)")})))`, advance("$j", 4))}
    (local.set $max (f32.const -inf))
${[0, 1, 2, 3].map((l) => `    (local.set $v (f32x4.extract_lane ${l} (local.get $m4)))
    ${keepMax}`).join("\n")}
    ${loop("max1", "(i32.lt_u (local.get $j) (local.get $n))", `(local.set $v (f32.load ${pAt("(local.get $j)")}))
      ${keepMax}`, advance("$j", 1))}
    (local.set $mx (f64x2.splat (f64.promote_f32 (local.get $max))))
    (local.set $sum (f64.const 0))
    (local.set $j (i32.const 0))
    ${loop("exp2", "(i32.lt_u (local.get $j) (local.get $n2))", `${exponentsOf(`(v128.load64_zero ${pAt("(local.get $j)")})`)}
      ${expF64()}
      (v128.store ${eAt("(local.get $j)")} (local.get $q))
      ${addLane(0)}
      ${addLane(1)}`, advance("$j", 2))}
    (if (i32.lt_u (local.get $n2) (local.get $n)) (then
      ${exponentsOf(`(v128.load32_zero ${pAt("(local.get $n2)")})`)}
      ${expF64()}
      (f64.store ${eAt("(local.get $n2)")} (f64x2.extract_lane 0 (local.get $q)))
      ${addLane(0)}))
    (local.set $s2 (f64x2.splat (local.get $sum)))
    (local.set $j (i32.const 0))
    ${loop("div2", "(i32.lt_u (local.get $j) (local.get $n2))", `(v128.store64_lane 0 ${pAt("(local.get $j)")}
        (f32x4.demote_f64x2_zero (f64x2.div (v128.load ${eAt("(local.get $j)")}) (local.get $s2))))`, advance("$j", 2))}
    (if (i32.lt_u (local.get $n2) (local.get $n)) (then
      (f32.store ${pAt("(local.get $n2)")} (f32.demote_f64 (f64.div (f64.load ${eAt("(local.get $n2)")}) (local.get $sum)))))))`

/** The attention part of the kernels module. */
export const attentionWat = (): string => KV_TYPES.map((t) => scores(t) + values(t)).join("\n") + SOFTMAX
