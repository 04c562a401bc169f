/**
 * Generates the WAT of the SIMD matmul kernels, one per weight storage type (f32, bf16, f16): the same
 * register-tiled loop nest with a different "load 4 weights as f32x4" step. Written as a generator
 * because WAT has no macros and the three kernels must stay identical apart from that step.
 *
 *   out[r, o] = sum_i x[r, i] * w[o, i] + bias[o]   for r < rows, o0 <= o < o1  (w is [outDim, inDim])
 *
 * Exactness rule (see src/engine/kernels.ts): every output element is computed the same way whatever tile
 * it falls in and whatever column range [o0, o1) the call covers: one f32x4 accumulator over i in steps of
 * 4 (lane j holds i = j mod 4) updated with f32x4.relaxed_madd (an FMA where the CPU has one, the same
 * instruction for every tile), lanes reduced as (l0 + l1) + (l2 + l3), then the scalar tail
 * i >= inDim - inDim mod 4 in ascending order, then the bias. So a row's result does not depend on the
 * batch, and a column's does not depend on how the columns are split between threads. Tiles only decide
 * which elements share loads:
 *   5 rows x 2 columns (rows in blocks of 60 so that a block of x stays in cache while the weights stream),
 *   5 x 1 for an odd last column; then the last rows mod 5 together, so the weights are read once more,
 *   not once per row (a step of 2 to 4 rows): 4 rows x 2 columns, 3 x 3, 2 x 4 or 1 x 8, then single
 *   columns. (10 accumulators hide FMA latency better than 4 x 2's 8; wider tiles spill registers.)
 * BF16 and F16 weights are widened to f32 exactly inside the loop (never stored widened).
 */
export type WeightType = "f32" | "bf16" | "f16"
export const WEIGHT_TYPES: ReadonlyArray<WeightType> = ["f32", "bf16", "f16"]
export const SIZE: Record<WeightType, number> = { f32: 4, bf16: 2, f16: 2 }
/** Rows of the main tile: 5 x 2 keeps 10 accumulators (enough to hide FMA latency) + 2 weights + 1 x in 13 of x64's 15 usable registers. */
const TILE_ROWS = 5
const ROW_BLOCK = 60
/** Columns whose weights stay in cache while every row of a block passes over them (a multiple of every rest tile width). */
const COLUMN_GROUP = 24

const splat = (hex: string) => `(v128.const i32x4 ${hex} ${hex} ${hex} ${hex})`

/**
 * Statements leaving 4 values of type `t` at byte address `addr`, widened to f32, in local `dst` (f16
 * also needs a v128 local $h).
 */
export const widen4 = (t: WeightType, addr: string, dst = "$wv"): string => {
  if (t === "f32") return `(local.set ${dst} (v128.load ${addr}))`
  if (t === "bf16") return `(local.set ${dst} (i32x4.shl (v128.load16x4_u ${addr}) (i32.const 16)))`
  // f16 -> f32: magnitude bits moved into place and scaled by 2^112 (exact for normals and subnormals),
  // exponent forced to all ones for inf/NaN, then the sign. (Subnormal f16 weights make that multiply
  // take x86's slow path; $f16 below avoids it, but here the avoiding code costs more than the rare hits.)
  return `(local.set $h (v128.load16x4_u ${addr}))
    (local.set ${dst} (v128.or (v128.or
      (f32x4.mul (i32x4.shl (v128.and (local.get $h) ${splat("0x7fff")}) (i32.const 13)) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
      (v128.and (i32x4.eq (v128.and (local.get $h) ${splat("0x7c00")}) ${splat("0x7c00")}) ${splat("0x7f800000")}))
      (i32x4.shl (v128.and (local.get $h) ${splat("0x8000")}) (i32.const 16))))`
}

/**
 * widen4 for weight matrices, whose f16 values are finite (the loaders refuse inf/NaN: weights.ts): the
 * halves sign-extended to 32 bits and shifted so that sign, exponent and mantissa land in f32's places,
 * the sign's copies cleared, then scaled by 2^112 (exact for normals and subnormals; the multiply keeps
 * the sign). 4 operations per 4 weights where widen4's f16 case, which also maps inf/NaN, takes 10: a
 * one-row f16 matmul is bound by them.
 */
export const widenWeights4 = (t: WeightType, addr: string, dst = "$wv"): string =>
  t !== "f16" ? widen4(t, addr, dst)
    : `(local.set ${dst} (f32x4.mul (v128.and (i32x4.shl (v128.load16x4_s ${addr}) (i32.const 13)) ${splat("0x8fffffff")}) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112)))`

/** One weight at byte address `addr` as f32 (the scalar tail). */
const loadWeight = (t: WeightType, addr: string): string =>
  t === "f32" ? `(f32.load ${addr})`
    : t === "bf16" ? `(f32.reinterpret_i32 (i32.shl (i32.load16_u ${addr}) (i32.const 16)))`
    : `(call $f16 (i32.load16_u ${addr}))`

const finish = (t: WeightType): string => `
  ;; One element, finished: lanes reduced in a fixed order, then the scalar tail from $k0 to $in in order.
  (func $finish_${t} (param $acc v128) (param $x i32) (param $w i32) (param $k0 i32) (param $in i32) (result f32)
    (local $s f32) (local $k i32)
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (local.set $k (local.get $k0))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $k) (local.get $in)))
      (local.set $s (f32.add (local.get $s) (f32.mul
        (f32.load (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
        ${loadWeight(t, `(i32.add (local.get $w) (i32.mul (local.get $k) (i32.const ${SIZE[t]})))`)})))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $tail)))
    (local.get $s))`

/** An R x C tile at rows $r.., columns $o..: accumulate over the whole inner dimension, then store. */
const tile = (t: WeightType, R: number, C: number): string => {
  const lines: Array<string> = []
  for (let i = 0; i < R; i++) lines.push(`(local.set $x${i} (i32.add (local.get $x) (i32.mul (i32.add (local.get $r) (i32.const ${i})) (local.get $inB))))`)
  for (let c = 0; c < C; c++) lines.push(`(local.set $w${c} (i32.add (local.get $w) (i32.mul (i32.add (local.get $o) (i32.const ${c})) (local.get $wB))))`)
  for (let i = 0; i < R; i++) for (let c = 0; c < C; c++) lines.push(`(local.set $a${i}_${c} (v128.const i32x4 0 0 0 0))`)
  lines.push(`(local.set $xo (i32.const 0)) (local.set $wo (i32.const 0))`)
  const body: Array<string> = []
  const loadX = (i: number, into: string) => `(local.set ${into} (v128.load (i32.add (local.get $x${i}) (local.get $xo))))`
  const loadW = (c: number, into: string) => widenWeights4(t, `(i32.add (local.get $w${c}) (local.get $wo))`, into)
  const fma = (i: number, c: number, xv: string, wv: string) => `(local.set $a${i}_${c} (f32x4.relaxed_madd (local.get ${xv}) (local.get ${wv}) (local.get $a${i}_${c})))`
  // The R rows of x stay in registers through the step (R*C accumulators + R + 1 live vectors) unless
  // that would crowd x64's 15 usable vector registers (V8 then spills); then the C weights stay and x
  // streams one row at a time (R*C + C + 1).
  if (R * C + R + 1 > 13) {
    for (let c = 0; c < C; c++) body.push(loadW(c, `$wv${c}`))
    for (let i = 0; i < R; i++) {
      body.push(loadX(i, "$xv0"))
      for (let c = 0; c < C; c++) body.push(fma(i, c, "$xv0", `$wv${c}`))
    }
  } else {
    for (let i = 0; i < R; i++) body.push(loadX(i, `$xv${i}`))
    for (let c = 0; c < C; c++) {
      body.push(loadW(c, "$wv"))
      for (let i = 0; i < R; i++) body.push(fma(i, c, `$xv${i}`, "$wv"))
    }
  }
  lines.push(`(block $kd (loop $kl
      (br_if $kd (i32.ge_u (local.get $xo) (local.get $k4B)))
      ${body.join("\n      ")}
      (local.set $xo (i32.add (local.get $xo) (i32.const 16)))
      (local.set $wo (i32.add (local.get $wo) (i32.const ${4 * SIZE[t]})))
      (br $kl)))`)
  lines.push(`(if (i32.eq (local.get $k4) (local.get $in))
      (then ${storePairs(R, C)})
      (else ${storeEach(t, R, C)}))`)
  return lines.join("\n      ")
}

/** Byte address of out[$r + i, $o + c]. */
const outAt = (i: number, c: number) =>
  `(i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.add (local.get $r) (i32.const ${i})) (local.get $outDim)) (i32.add (local.get $o) (i32.const ${c}))) (i32.const 2)))`

/** Every element of the tile through $finish (the lanes, then the scalar tail), plus its bias. */
const storeEach = (t: WeightType, R: number, C: number): string =>
  Array.from({ length: R * C }, (_, e) => {
    const i = Math.floor(e / C), c = e % C
    return `(f32.store ${outAt(i, c)} (f32.add (call $finish_${t} (local.get $a${i}_${c}) (local.get $x${i}) (local.get $w${c}) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (i32.add (local.get $o) (i32.const ${c})))))`
  }).join("\n        ")

/** Lanes 0 and 2, and lanes 1 and 3, of two f32x4 (shufps); lanes swapped in pairs. */
const EVEN = "0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27", ODD = "4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31"
const SWAP_PAIRS = "4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11"

/** [a.l0 + a.l1, a.l2 + a.l3, b.l0 + b.l1, b.l2 + b.l3] of the f32x4 locals a and b. */
export const pairSums = (a: string, b: string): string =>
  `(f32x4.add (i8x16.shuffle ${EVEN} (local.get ${a}) (local.get ${b})) (i8x16.shuffle ${ODD} (local.get ${a}) (local.get ${b})))`

/** Local v (pairSums's result) with each pair added: lane 0 = (l0 + l1) + (l2 + l3) of a, lane 2 the same of b. */
export const pairTotals = (v: string): string => `(f32x4.add (local.get ${v}) (i8x16.shuffle ${SWAP_PAIRS} (local.get ${v}) (local.get ${v})))`

/**
 * No scalar tail (inDim a multiple of 4): two columns' elements of a row finished at once, the same sums
 * as $finish's: [(l0 + l1), (l2 + l3)] of both accumulators side by side, then each pair added (the
 * swapped copy puts (l2 + l3) beside (l0 + l1)), then the bias. An odd last column goes through $finish.
 * (A call per element was ~15% of a 5 x 2 tile's instructions at inDim 256.)
 */
const storePairs = (R: number, C: number): string => {
  const lines = Array.from({ length: C }, (_, c) => `(local.set $b${c} (call $biasAt (local.get $bias) (i32.add (local.get $o) (i32.const ${c}))))`)
  for (let i = 0; i < R; i++) {
    for (let c = 0; c + 1 < C; c += 2) {
      lines.push(`(local.set $pv ${pairSums(`$a${i}_${c}`, `$a${i}_${c + 1}`)})
        (local.set $pv ${pairTotals("$pv")})
        (f32.store ${outAt(i, c)} (f32.add (f32x4.extract_lane 0 (local.get $pv)) (local.get $b${c})))
        (f32.store ${outAt(i, c + 1)} (f32.add (f32x4.extract_lane 2 (local.get $pv)) (local.get $b${c + 1})))`)
    }
    if (C % 2 === 1) lines.push(`(f32.store ${outAt(i, C - 1)} (f32.add (call $finish_f32 (local.get $a${i}_${C - 1}) (i32.const 0) (i32.const 0) (local.get $in) (local.get $in)) (local.get $b${C - 1})))`)
  }
  return lines.join("\n        ")
}

/** `while (cond) { body; step }` */
export const loop = (name: string, cond: string, body: string, step: string) =>
  `(block $${name}_d (loop $${name}_l
      (br_if $${name}_d (i32.eqz ${cond}))
      ${body}
      ${step}
      (br $${name}_l)))`

/** The tile widths of the last rows mod TILE_ROWS (R rows x C columns: R*C accumulators + R + 1 vectors in registers). */
const REST_COLUMNS: Record<number, number> = { 1: 8, 2: 4, 3: 3, 4: 2 }

const matmul = (t: WeightType): string => {
  const locals = ["$o", "$og", "$oe", "$r", "$rb", "$re", "$rt", "$k4", "$k4B", "$inB", "$wB", "$xo", "$wo", ...Array.from({ length: TILE_ROWS }, (_, i) => `$x${i}`),
    ...Array.from({ length: 8 }, (_, c) => `$w${c}`)].map((n) => `(local ${n} i32)`)
  const vlocals = new Set(["$wv", "$wv0", "$wv1", "$h", "$pv", ...Array.from({ length: TILE_ROWS }, (_, i) => `$xv${i}`)])
  const accumulators = (R: number, C: number) => {
    for (let i = 0; i < R; i++) for (let c = 0; c < C; c++) vlocals.add(`$a${i}_${c}`)
  }
  accumulators(TILE_ROWS, 2)
  for (const [R, C] of Object.entries(REST_COLUMNS)) accumulators(Number(R), C)
  const inc = (v: string, n: number) => `(local.set ${v} (i32.add (local.get ${v}) (i32.const ${n})))`
  const rowTiles = (C: number) => loop(`r${C}`, `(i32.lt_u (local.get $r) (local.get $re))`, tile(t, TILE_ROWS, C), inc("$r", TILE_ROWS))
  // The last R = rows mod TILE_ROWS rows, all at once over the group's columns: R x C tiles, then R x 1.
  const restRows = (R: number) => {
    const C = REST_COLUMNS[R]
    return `(if (i32.eq (i32.sub (local.get $rows) (local.get $r)) (i32.const ${R})) (then
        (local.set $o (local.get $og))
        ${loop(`rest${R}w`, `(i32.le_u (i32.add (local.get $o) (i32.const ${C})) (local.get $oe))`, tile(t, R, C), inc("$o", C))}
        ${loop(`rest${R}n`, `(i32.lt_u (local.get $o) (local.get $oe))`, tile(t, R, 1), inc("$o", 1))}))`
  }
  const min = (a: string, b: string) => `(select ${a} ${b} (i32.lt_u ${a} ${b}))`
  return `
  (func (export "matmul_${t}") (param $out i32) (param $x i32) (param $w i32) (param $rows i32) (param $in i32) (param $outDim i32) (param $bias i32) (param $o0 i32) (param $o1 i32)
    ${locals.join(" ")}
    ${[...vlocals].map((n) => `(local ${n} v128)`).join(" ")}
    ${Array.from({ length: 8 }, (_, c) => `(local $b${c} f32)`).join(" ")}
    (local.set $inB (i32.shl (local.get $in) (i32.const 2)))
    (local.set $wB (i32.mul (local.get $in) (i32.const ${SIZE[t]})))
    (local.set $k4 (i32.and (local.get $in) (i32.const -4)))
    (local.set $k4B (i32.shl (local.get $k4) (i32.const 2)))
    ;; Rows in blocks of ${ROW_BLOCK} (whole ${TILE_ROWS}-row tiles: the first $rt rows); within a block, groups of
    ;; ${COLUMN_GROUP} columns, and within a group column pairs outer, row tiles inner. The last rows mod ${TILE_ROWS} go
    ;; with the last block's groups, while the group's weights are in cache: a step of 16 rows (3 tiles + 1)
    ;; reads the weights from memory once, not twice. A call with fewer than ${TILE_ROWS} rows is one empty block.
    (local.set $rt (i32.sub (local.get $rows) (i32.rem_u (local.get $rows) (i32.const ${TILE_ROWS}))))
    (local.set $rb (i32.const 0))
    (block $blk_d (loop $blk_l
      (local.set $re ${min(`(i32.add (local.get $rb) (i32.const ${ROW_BLOCK}))`, "(local.get $rt)")})
      (local.set $og (local.get $o0))
      ${loop("grp", "(i32.lt_u (local.get $og) (local.get $o1))", `(local.set $oe ${min(`(i32.add (local.get $og) (i32.const ${COLUMN_GROUP}))`, "(local.get $o1)")})
      (local.set $o (local.get $og))
      ${loop("o2", `(i32.le_u (i32.add (local.get $o) (i32.const 2)) (local.get $oe))`, `(local.set $r (local.get $rb))
      ${rowTiles(2)}`, inc("$o", 2))}
      (if (i32.lt_u (local.get $o) (local.get $oe)) (then
        (local.set $r (local.get $rb))
        ${rowTiles(1)}))
      (if (i32.eq (local.get $re) (local.get $rt)) (then
        (local.set $r (local.get $rt))
        ${[1, 2, 3, 4].map(restRows).join("\n        ")}))`, "(local.set $og (local.get $oe))")}
      (local.set $rb (local.get $re))
      (br_if $blk_l (i32.lt_u (local.get $rb) (local.get $rt)))))
  )`
}

/** The matmul part of the kernels module: helpers and one exported matmul per weight type. */
export const matmulWat = (): string => `
  (func $biasAt (param $bias i32) (param $o i32) (result f32)
    (if (result f32) (local.get $bias)
      (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 2)))))
      (else (f32.const 0))))

  ;; One f16 (in the low 16 bits) as f32, exactly (the same values as the vector widening in widen4).
  ;; f16 -> f32 without arithmetic on f32 subnormals (x86 takes a microcode assist of ~100+ cycles for each,
  ;; and quantized files' block scales are often f16 subnormals): normals by rebiasing the exponent bits,
  ;; subnormals as the mantissa's integer value times 2^-24 (exact), inf/NaN by forcing the exponent bits.
  (func $f16 (param $h i32) (result f32)
    (local $m i32)
    (local.set $m (i32.and (local.get $h) (i32.const 0x7fff)))
    (f32.reinterpret_i32 (i32.or (i32.or
      (select
        (i32.reinterpret_f32 (f32.mul (f32.convert_i32_u (local.get $m)) (f32.const 0x1p-24)))
        (i32.add (i32.shl (local.get $m) (i32.const 13)) (i32.const 0x38000000))
        (i32.lt_u (local.get $m) (i32.const 0x0400)))
      (select (i32.const 0x7f800000) (i32.const 0) (i32.ge_u (local.get $m) (i32.const 0x7c00))))
      (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16)))))
${WEIGHT_TYPES.map((t) => finish(t) + matmul(t)).join("\n")}`
