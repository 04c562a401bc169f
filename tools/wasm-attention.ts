/**
 * Generates the WAT of the paged-attention kernels, per KV-cache type T (f32, f16) and per number R of
 * query rows that read the same keys and values (1..MAX_ATTENTION_ROWS: the heads of one GQA group), and
 * the softmax between them (in float64, as the reference kernels compute it); see
 * src/engine/wasm/simd-attention.ts.
 *
 *   attn_scores<R>_T(scores, stride, qs, pool, slots, n, ko, kvDim, headDim, scale):
 *     scores_r[j] = scale * sum_d q_r[d] * K[slots[j]][ko + d]       for r < R, j < n
 *   attn_values<R>_T(outs, accumulate, probs, stride, pool, slots, n, ko, kvDim, headDim):
 *     out_r[d] (+)= sum_j probs_r[j] * V[slots[j]][ko + d]           for r < R, d < headDim
 *   attn_softmax(p, e, n, c):
 *     p[j] = exp(p[j] - max) / sum    for j < n, in float64 (e: n float64 of scratch; c: the constants), rounded to f32
 *
 * Row r's q and out are at the addresses in qs[r] and outs[r] (i32 arrays), its scores and probabilities
 * r strides (bytes) after row 0's. Each key and value row is read once for the R rows: a GQA group's heads,
 * and consecutive tokens of one sequence, share it (the reads, from L2, are what these kernels wait on). headDim must be a multiple of 4 (the caller falls back to the reference kernels otherwise).
 * Exactness: a score is one f32x4 accumulator over d in order, reduced (l0 + l1) + (l2 + l3), then scaled
 * (keys are taken 8, 4 or 2 at a time only to overlap their FMA chains); an output element is one lane
 * accumulated over j in order (lanes taken 4 to 32 at a time only to overlap chains); the softmax's sum is
 * taken over j in order. None depends on R, on other tokens or heads, or on how the work is split
 * between threads.
 */
import { EXP_CONSTANTS, MAX_ATTENTION_ROWS } from "../src/engine/wasm/simd-attention.ts"
import { loop, pairSums, pairTotals, SIZE, widen4, type WeightType } from "./wasm-matmul.ts"

export const KV_TYPES: ReadonlyArray<WeightType> = ["f32", "f16"]

/** `(local.set $v (i32.add (local.get $v) (i32.const n)))` */
const advance = (v: string, n: number) => `(local.set ${v} (i32.add (local.get ${v}) (i32.const ${n})))`

/** Byte address of key/value row `slots[j + i]` of the pool, head offset included, into local `$b<i>`. */
const rowAddress = (t: WeightType, i: number): string =>
  `(local.set $b${i} (i32.add (local.get $pool) (i32.mul (i32.add (i32.mul
        (i32.load (i32.add (local.get $slots) (i32.shl (i32.add (local.get $j) (i32.const ${i})) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (i32.const ${SIZE[t]}))))`

/** The K row at `base` plus the q offset $d (f16 rows are half as many bytes). */
const kAt = (t: WeightType, base: string) => `(i32.add (local.get ${base}) ${t === "f32" ? "(local.get $d)" : "(i32.shr_u (local.get $d) (i32.const 1))"})`

/** Byte address of query row r's score for key $j + i (row r's scores start r * $stride bytes after $scores). */
const scoreAt = (r: number, i: number) =>
  `(i32.add (i32.add (local.get $scores) (i32.mul (local.get $stride) (i32.const ${r}))) (i32.shl (i32.add (local.get $j) (i32.const ${i})) (i32.const 2)))`

/** Accumulator of query row r for key i of the group. */
const acc = (r: number, i: number) => `$a${r}_${i}`

/** score = scale * the lanes of one accumulator reduced (l0 + l1) + (l2 + l3). */
const storeScore = (r: number, i: number): string =>
  `(f32.store ${scoreAt(r, i)} (f32.mul (local.get $scale) (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get ${acc(r, i)})) (f32x4.extract_lane 1 (local.get ${acc(r, i)})))
        (f32.add (f32x4.extract_lane 2 (local.get ${acc(r, i)})) (f32x4.extract_lane 3 (local.get ${acc(r, i)}))))))`


/**
 * The 4 scores of keys $j + i0 .. + 3 of row r in one store: the same sums as storeScore's, four at a time
 * (pairs (l0 + l1), (l2 + l3) of two accumulators side by side, then those pairs added lane by lane).
 */
const storeScores4 = (r: number, i0: number): string =>
  `(local.set $s01 ${pairSums(acc(r, i0), acc(r, i0 + 1))})
      (local.set $s23 ${pairSums(acc(r, i0 + 2), acc(r, i0 + 3))})
      (v128.store ${scoreAt(r, i0)} (f32x4.mul (f32x4.splat (local.get $scale)) ${pairSums("$s01", "$s23")}))`


/** The 2 scores of keys $j + i0 and + 1 of row r: storeScores4's sums for two keys (lanes 0 and 2). */
const storeScores2 = (r: number, i0: number): string =>
  `(local.set $s01 ${pairSums(acc(r, i0), acc(r, i0 + 1))})
      (local.set $s01 (f32x4.mul (f32x4.splat (local.get $scale)) ${pairTotals("$s01")}))
      (f32.store ${scoreAt(r, i0)} (f32x4.extract_lane 0 (local.get $s01)))
      (f32.store ${scoreAt(r, i0 + 1)} (f32x4.extract_lane 2 (local.get $s01)))`

/**
 * Scores of keys $j.. K at a time while $j < `end`, for R query rows: R x K accumulators (one per row and
 * key) sharing each load of a key (read once for the R rows) and of each row's q.
 */
const keyGroups = (t: WeightType, R: number, K: number, end: string): string => {
  const keys = Array.from({ length: K }, (_, i) => i), rows = Array.from({ length: R }, (_, r) => r)
  const stores = rows.map((r) => (K % 4 === 0 ? keys.filter((i) => i % 4 === 0).map((i) => storeScores4(r, i))
    : K === 2 ? [storeScores2(r, 0)] : keys.map((i) => storeScore(r, i))).join("\n      "))
  return loop(`keys${K}`, `(i32.lt_u (local.get $j) ${end})`, `${keys.map((i) => rowAddress(t, i)).join("\n      ")}
      ${rows.flatMap((r) => keys.map((i) => `(local.set ${acc(r, i)} (v128.const i32x4 0 0 0 0))`)).join(" ")}
      (local.set $d (i32.const 0))
      ${loop(`dims${K}`, "(i32.lt_u (local.get $d) (local.get $dEnd))", `${rows.map((r) => `(local.set $q${r} (v128.load (i32.add (local.get $qr${r}) (local.get $d))))`).join("\n        ")}
        ${keys.map((i) => `${widen4(t, kAt(t, `$b${i}`), "$kv")}
        ${rows.map((r) => `(local.set ${acc(r, i)} (f32x4.relaxed_madd (local.get $q${r}) (local.get $kv) (local.get ${acc(r, i)})))`).join("\n        ")}`).join("\n        ")}`, advance("$d", 16))}
      ${stores.join("\n      ")}`, advance("$j", K))
}

/**
 * Keys per group for R query rows: R x K accumulators + R q + 1 key within x64's 15 usable vector registers
 * (V8 spills beyond), the independent FMA chains overlapping instead of each waiting on its own latency.
 */
const KEY_GROUPS: Record<number, ReadonlyArray<number>> = { 1: [8, 4, 1], 2: [4, 1], 3: [2, 1], 4: [2, 1] }

/**
 * attn_scores<R>_T: the scores of R query rows (their addresses: i32 [R] at $qs) over the same n keys, keys
 * K at a time (the widths of KEY_GROUPS), then the last ones one at a time. Every score is the same
 * one-accumulator sum whatever R and K are.
 */
const scores = (t: WeightType, R: number): string => {
  const widths = KEY_GROUPS[R]
  const ends = widths.map((K) => (K === 1 ? "(local.get $n)" : `(i32.and (local.get $n) (i32.const ${-K}))`))
  const maxK = widths[0], rows = Array.from({ length: R }, (_, r) => r)
  return `
  (func (export "attn_scores${R}_${t}") (param $scores i32) (param $stride i32) (param $qs i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32) (param $scale f32)
    (local $j i32) (local $d i32) (local $dEnd i32) (local $kv v128) (local $h v128) (local $s01 v128) (local $s23 v128)
    ${rows.map((r) => `(local $q${r} v128) (local $qr${r} i32)`).join(" ")}
    ${Array.from({ length: maxK }, (_, i) => `(local $b${i} i32) ${rows.map((r) => `(local ${acc(r, i)} v128)`).join(" ")}`).join("\n    ")}
    ${rows.map((r) => `(local.set $qr${r} (i32.load offset=${4 * r} (local.get $qs)))`).join("\n    ")}
    (local.set $dEnd (i32.shl (local.get $headDim) (i32.const 2)))
    (local.set $j (i32.const 0))
    ${widths.map((K, w) => keyGroups(t, R, K, ends[w])).join("\n    ")})`
}

/** Value rows per pass for R query rows (R x W accumulators + R probabilities + 1 value vector in registers). */
const LANE_GROUPS: Record<number, ReadonlyArray<number>> = { 1: [8, 4, 1], 2: [4, 1], 3: [3, 1], 4: [2, 1] }

/** Output lanes d.. (4 * W of them) of R rows accumulated over every j: R x W independent accumulators. */
const valuesChunk = (t: WeightType, R: number, W: number): string => {
  const rows = Array.from({ length: R }, (_, r) => r), vecs = Array.from({ length: W }, (_, i) => i)
  const off = (i: number) => `(i32.add (local.get $base) (i32.const ${i * 4 * SIZE[t]}))`
  const probAt = (r: number) => `(i32.add (i32.add (local.get $probs) (i32.mul (local.get $stride) (i32.const ${r}))) (i32.shl (local.get $j) (i32.const 2)))`
  const outAt = (r: number, i: number) => `(i32.add (local.get $or${r}) (i32.shl (i32.add (local.get $d) (i32.const ${4 * i})) (i32.const 2)))`
  const start = (r: number, i: number) => `(local.set ${acc(r, i)} (select (v128.load ${outAt(r, i)}) (v128.const i32x4 0 0 0 0) (local.get $accumulate)))`
  return `${rows.flatMap((r) => vecs.map((i) => start(r, i))).join("\n      ")}
      (local.set $j (i32.const 0))
      ${loop(`j${W}`, "(i32.lt_u (local.get $j) (local.get $n))", `${rows.map((r) => `(local.set $p${r} (f32x4.splat (f32.load ${probAt(r)})))`).join("\n        ")}
        (local.set $base (i32.add (local.get $pool) (i32.mul (i32.add (i32.add (i32.mul
          (i32.load (i32.add (local.get $slots) (i32.shl (local.get $j) (i32.const 2)))) (local.get $kvDim)) (local.get $ko)) (local.get $d)) (i32.const ${SIZE[t]}))))
        ${vecs.map((i) => `${widen4(t, off(i), "$kv")}
        ${rows.map((r) => `(local.set ${acc(r, i)} (f32x4.relaxed_madd (local.get $p${r}) (local.get $kv) (local.get ${acc(r, i)})))`).join("\n        ")}`).join("\n        ")}`, advance("$j", 1))}
      ${rows.flatMap((r) => vecs.map((i) => `(v128.store ${outAt(r, i)} (local.get ${acc(r, i)}))`)).join("\n      ")}`
}

/**
 * attn_values<R>_T: R rows' weighted sums of the same n value rows (row r's probabilities $stride bytes
 * after row r - 1's; the rows' output addresses: i32 [R] at $outs), 4 * W lanes per pass over j. With
 * $accumulate, the sums continue from the values in out (a row with more keys than the others goes on
 * alone from where the shared pass stopped: f32 stored and loaded back is the same accumulator). An
 * output element is one lane accumulated over j in order whatever R and W are.
 */
const values = (t: WeightType, R: number): string => {
  const widths = LANE_GROUPS[R], rows = Array.from({ length: R }, (_, r) => r)
  return `
  (func (export "attn_values${R}_${t}") (param $outs i32) (param $accumulate i32) (param $probs i32) (param $stride i32) (param $pool i32) (param $slots i32) (param $n i32)
      (param $ko i32) (param $kvDim i32) (param $headDim i32)
    (local $j i32) (local $d i32) (local $base i32) (local $kv v128) (local $h v128)
    ${rows.map((r) => `(local $p${r} v128) (local $or${r} i32)`).join(" ")}
    ${Array.from({ length: widths[0] }, (_, i) => rows.map((r) => `(local ${acc(r, i)} v128)`).join(" ")).join("\n    ")}
    ${rows.map((r) => `(local.set $or${r} (i32.load offset=${4 * r} (local.get $outs)))`).join("\n    ")}
    (local.set $d (i32.const 0))
    ${widths.map((W) => loop(`lanes${W}`, `(i32.le_u (i32.add (local.get $d) (i32.const ${4 * W})) (local.get $headDim))`, valuesChunk(t, R, W), advance("$d", 4 * W))).join("\n    ")})`
}

/**
 * The softmax's float64 constants, read from a table in memory ($c: EXP_CONSTANTS as f64x2 pairs, see
 * simd-attention.ts) rather than written inline: V8 builds an inline f64x2 constant from a 64-bit immediate
 * every time it is used (3 instructions on the vector ports), 16 of them per pair of exps.
 */
const constant = (value: number): string => {
  const i = EXP_CONSTANTS.indexOf(value)
  if (i < 0) throw new Error(`${value} is not in EXP_CONSTANTS`)
  return `(v128.load offset=${16 * i} (local.get $c))`
}

/**
 * Statements setting local $q<s> to exp of the 2 float64 lanes of local $x<s>, x <= 0 (a softmax's exponents;
 * clamped at -708, where exp is ~0 anyway): x = k ln2 + r with ln2 split in two (fdlibm's Cody-Waite
 * constants, so r is exact to ~1e-20), exp(r) by its Taylor series to degree 12 (|r| <= ln2/2: truncation
 * < 2e-16 relative) evaluated by Estrin's scheme (pairs combined with r^2, r^4, r^8: a short dependency
 * chain instead of 12 sequential steps), times 2^k built from bits (k + 2^52 + 1023 holds the biased
 * exponent in its low bits). Within a few ulp of Math.exp: the probabilities it makes, rounded to f32, are
 * the reference's (checked bit for bit in the kernel tests). Inline (not a function), and two of them
 * interleaved statement by statement (see SOFTMAX), so the long dependency chain of one is overlapped
 * with the other's.
 */
const expF64 = (s: string): Array<string> => {
  const c = (d: number) => constant(1 / factorial(d))
  const [x, k, r, r2, r4, q] = ["x", "k", "r", "r2", "r4", "q"].map((v) => `$${v}${s}`)
  const get = (v: string) => `(local.get ${v})`
  const pair = (d: number) => `(f64x2.add ${c(d)} (f64x2.mul ${c(d + 1)} ${get(r)}))`
  return [
    `(local.set ${x} (f64x2.pmax ${get(x)} ${constant(EXP_CONSTANTS[0])}))`,
    `(local.set ${k} (f64x2.nearest (f64x2.mul ${get(x)} ${constant(EXP_CONSTANTS[1])})))`,
    `(local.set ${r} (f64x2.sub (f64x2.sub ${get(x)} (f64x2.mul ${get(k)} ${constant(EXP_CONSTANTS[2])}))
        (f64x2.mul ${get(k)} ${constant(EXP_CONSTANTS[3])})))`,
    `(local.set ${r2} (f64x2.mul ${get(r)} ${get(r)}))`,
    `(local.set ${r4} (f64x2.mul ${get(r2)} ${get(r2)}))`,
    `(local.set ${q} (f64x2.add
        (f64x2.add (f64x2.add ${pair(0)} (f64x2.mul ${get(r2)} ${pair(2)})) (f64x2.mul ${get(r4)} (f64x2.add ${pair(4)} (f64x2.mul ${get(r2)} ${pair(6)}))))
        (f64x2.mul (f64x2.mul ${get(r4)} ${get(r4)}) (f64x2.add (f64x2.add ${pair(8)} (f64x2.mul ${get(r2)} ${pair(10)})) (f64x2.mul ${get(r4)} ${c(12)})))))`,
    `(local.set ${q} (f64x2.mul ${get(q)} (i64x2.shl (f64x2.add ${get(k)} ${constant(EXP_CONSTANTS[4])}) (i32.const 52))))`
  ]
}

/** Two exps (locals suffixed a and b) statement by statement. */
const twoExps = (): string => {
  const a = expF64("a"), b = expF64("b")
  return a.flatMap((st, i) => [st, b[i]]).join("\n      ")
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
/** $x<s> = the f32 values `load` gives (2 lanes; a load of 1 leaves lane 1 0) minus the max, in float64. */
const exponentsOf = (s: string, load: string) => `(local.set $x${s} (f64x2.sub (f64x2.promote_low_f32x4 ${load}) (local.get $mx)))`
/** max = v when v > max (a NaN v never wins, as in the reference's comparison). */
const keepMax = "(if (f32.gt (local.get $v) (local.get $max)) (then (local.set $max (local.get $v))))"
const addLane = (s: string, l: number) => `(local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane ${l} (local.get $q${s}))))`

/**
 * attn_softmax(p, e, n, c): see the header. Exps four at a time (two interleaved pairs), then a last pair
 * and a last one, each sum term added in j order.
 */
const SOFTMAX = `
  (func (export "attn_softmax") (param $p i32) (param $e i32) (param $n i32) (param $c i32)
    (local $j i32) (local $n4 i32) (local $n2 i32) (local $m4 v128) (local $max f32) (local $v f32) (local $mx v128) (local $sum f64) (local $s2 v128)
    ${["a", "b"].map((s) => ["x", "k", "r", "r2", "r4", "q"].map((v) => `(local $${v}${s} v128)`).join(" ")).join("\n    ")}
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
    ${loop("exp4", "(i32.lt_u (local.get $j) (local.get $n4))", `${exponentsOf("a", `(v128.load64_zero ${pAt("(local.get $j)")})`)}
      ${exponentsOf("b", `(v128.load64_zero ${pAt("(i32.add (local.get $j) (i32.const 2))")})`)}
      ${twoExps()}
      (v128.store ${eAt("(local.get $j)")} (local.get $qa))
      (v128.store offset=16 ${eAt("(local.get $j)")} (local.get $qb))
      ${addLane("a", 0)}
      ${addLane("a", 1)}
      ${addLane("b", 0)}
      ${addLane("b", 1)}`, advance("$j", 4))}
    (if (i32.lt_u (local.get $j) (local.get $n2)) (then
      ${exponentsOf("a", `(v128.load64_zero ${pAt("(local.get $j)")})`)}
      ${expF64("a").join("\n      ")}
      (v128.store ${eAt("(local.get $j)")} (local.get $qa))
      ${addLane("a", 0)}
      ${addLane("a", 1)}))
    (if (i32.lt_u (local.get $n2) (local.get $n)) (then
      ${exponentsOf("a", `(v128.load32_zero ${pAt("(local.get $n2)")})`)}
      ${expF64("a").join("\n      ")}
      (f64.store ${eAt("(local.get $n2)")} (f64x2.extract_lane 0 (local.get $qa)))
      ${addLane("a", 0)}))
    (local.set $s2 (f64x2.splat (local.get $sum)))
    (local.set $j (i32.const 0))
    ${loop("div2", "(i32.lt_u (local.get $j) (local.get $n2))", `(v128.store64_lane 0 ${pAt("(local.get $j)")}
        (f32x4.demote_f64x2_zero (f64x2.div (v128.load ${eAt("(local.get $j)")}) (local.get $s2))))`, advance("$j", 2))}
    (if (i32.lt_u (local.get $n2) (local.get $n)) (then
      (f32.store ${pAt("(local.get $n2)")} (f32.demote_f64 (f64.div (f64.load ${eAt("(local.get $n2)")}) (local.get $sum)))))))`

/** The attention part of the kernels module. */
export const attentionWat = (): string =>
  KV_TYPES.flatMap((t) => Array.from({ length: MAX_ATTENTION_ROWS }, (_, i) => scores(t, i + 1) + values(t, i + 1))).join("\n") + SOFTMAX
