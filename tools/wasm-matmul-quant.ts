/**
 * Generates the WAT of the matmuls on quantized weights kept as ggml blocks, in the layout a GGUF file
 * stores them: Q8_0, Q4_0 and Q5_0 (32 values per block: an f16 scale d, then the quants), Q4_K (256 values: d,
 * dmin, 6-bit scales and mins of 8 sub-blocks, 4-bit quants) and Q6_K (256 values: 6-bit quants in low and
 * high bit planes, 16 int8 scales, d). Same signature, tiles and exactness rule as the float matmuls of
 * tools/wasm-matmul.ts:
 *
 *   out[r, o] = sum_i x[r, i] * w[o, i] + bias[o]   (rows are whole blocks)
 *
 * The inner loop walks 32-value sub-blocks. For each, a weight column's 32 quants are brought into two
 * int8x16 registers and dequantized four lanes at a time exactly as ggml's dequantize_row_* computes them
 * (Q8_0 / Q4_0 / Q5_0: d * q; Q4_K: (d * sc) * q - dmin * m; Q6_K: (d * sc) * q, two scales per 32 values) and
 * fused into f32 accumulators with the f32 activations (f32x4.relaxed_madd). Every product there is exact
 * in f32 and the one subtraction of Q4_K is a single rounding, so the values entering the FMAs are exactly
 * the dequantized weights, in the lanes and order the f32 kernel uses: an element's result is bit for bit
 * the f32 kernel's on the dequantized matrix, and so depends neither on the batch nor on the column split.
 *
 * Tiles as the f32 kernel's (4 rows x 2 columns over blocks of 64 rows, 4 x 1 for an odd last column)
 * except the last rows mod 4 (decode): 1 row x 2 columns, not 8. Each column of a tile is its own stream of
 * blocks through memory; with 8 of them (612-byte rows for SmolLM2's Q8_0) the hardware prefetcher kept
 * up with none and a 1-row matmul on weights in DRAM ran at ~2.5 GB/s, with 2 at the speed of the
 * dequantizing arithmetic (single-thread microbench, 576 x 98304: Q8_0 24 ms -> 14 ms, Q4_0 16 -> 8 ms).
 */
import { loop } from "./wasm-matmul.ts"

export type QuantType = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q6_k"
export const QUANT_TYPES: ReadonlyArray<QuantType> = ["q8_0", "q4_0", "q5_0", "q4_k", "q6_k"]
const BLOCK: Record<QuantType, { readonly values: number; readonly bytes: number }> = {
  q8_0: { values: 32, bytes: 34 }, q4_0: { values: 32, bytes: 18 }, q5_0: { values: 32, bytes: 22 }, q4_k: { values: 256, bytes: 144 }, q6_k: { values: 256, bytes: 210 }
}
const ROW_BLOCK = 64
const PREFETCH_BYTES = 1024

/**
 * A load of the byte PREFETCH_BYTES ahead of $wb (clamped to the matrix's last byte, so it cannot trap),
 * its value dropped: WASM has no prefetch instruction, and without it a 1-row matmul on Q8_0 blocks in
 * DRAM ran at half the speed (single-thread microbench, 576 x 98304: 15-19 ms -> 8 ms). Results unchanged.
 */
const touchAhead = `(drop (i32.load8_u (select (i32.add (local.get $wb) (i32.const ${PREFETCH_BYTES})) (local.get $wEnd)
          (i32.lt_u (i32.add (local.get $wb) (i32.const ${PREFETCH_BYTES})) (local.get $wEnd)))))`

const splat8 = (n: number) => `(v128.const i8x16 ${Array(16).fill(n).join(" ")})`
const get = (n: string) => `(local.get ${n})`

/**
 * Statements leaving sub-block $sb of the column whose row starts at $wc: its 32 quants as int8 in $qa
 * (values 0..15) and $qb (16..31), the scales of those halves in $s and $s2, and (Q4_K) the min in $m.
 */
const loadSub = (t: QuantType): string => {
  const { bytes } = BLOCK[t]
  if (t === "q8_0" || t === "q4_0" || t === "q5_0") {
    const head = `(local.set $wb (i32.add ${get("$wc")} (i32.mul ${get("$sb")} (i32.const ${bytes}))))
        ${touchAhead}
        (local.set $s (f32x4.splat (call $f16 (i32.load16_u ${get("$wb")}))))
        (local.set $s2 ${get("$s")})`
    if (t === "q8_0") return `${head}
        (local.set $qa (v128.load offset=2 ${get("$wb")}))
        (local.set $qb (v128.load offset=18 ${get("$wb")}))`
    if (t === "q5_0") return `${head}
        ${q5Quants}`
    // Q4_0: value j is the low nibble of byte j, value j + 16 its high nibble; both minus 8.
    return `${head}
        (local.set $qa (v128.load offset=2 ${get("$wb")}))
        (local.set $qb (i8x16.sub (i8x16.shr_u ${get("$qa")} (i32.const 4)) ${splat8(8)}))
        (local.set $qa (i8x16.sub (v128.and ${get("$qa")} ${splat8(15)}) ${splat8(8)}))`
  }
  const head = `(local.set $wb (i32.add ${get("$wc")} (i32.mul (i32.shr_u ${get("$sb")} (i32.const 3)) (i32.const ${bytes}))))
        ${touchAhead}
        (local.set $j (i32.and ${get("$sb")} (i32.const 7)))`
  if (t === "q4_k") {
    // Sub-block j: bytes qs[32 (j >> 1) ..] (at 16), low nibbles for even j, high for odd; y = d1 * q - m1.
    return `${head}
        (local.set $s (f32x4.splat (f32.mul (call $f16 (i32.load16_u ${get("$wb")})) (f32.convert_i32_u (call $q4kScale ${get("$wb")} ${get("$j")} (i32.const 0))))))
        (local.set $s2 ${get("$s")})
        (local.set $m (f32x4.splat (f32.mul (call $f16 (i32.load16_u offset=2 ${get("$wb")})) (f32.convert_i32_u (call $q4kScale ${get("$wb")} ${get("$j")} (i32.const 1))))))
        (local.set $qp (i32.add ${get("$wb")} (i32.add (i32.const 16) (i32.shl (i32.shr_u ${get("$j")} (i32.const 1)) (i32.const 5)))))
        (local.set $qa (v128.load ${get("$qp")}))
        (local.set $qb (v128.load offset=16 ${get("$qp")}))
        (if (i32.and ${get("$j")} (i32.const 1))
          (then (local.set $qa (i8x16.shr_u ${get("$qa")} (i32.const 4))) (local.set $qb (i8x16.shr_u ${get("$qb")} (i32.const 4))))
          (else (local.set $qa (v128.and ${get("$qa")} ${splat8(15)})) (local.set $qb (v128.and ${get("$qb")} ${splat8(15)}))))`
  }
  // Q6_K sub-block j = 4h + p: low 4 bits from ql[64h + 32 (p & 1) ..] (low nibbles for p < 2, else high),
  // high 2 bits from qh[32h ..] >> 2p (at 128), minus 32; scales sc[8h + 2p] and sc[8h + 2p + 1] (at 192).
  const hp = (e: string) => e.replace(/\$P/g, "(i32.and (local.get $j) (i32.const 3))").replace(/\$H/g, "(i32.shr_u (local.get $j) (i32.const 2))")
  return hp(`${head}
        (local.set $qp (i32.add ${get("$wb")} (i32.add (i32.shl $H (i32.const 6)) (i32.shl (i32.and $P (i32.const 1)) (i32.const 5)))))
        (local.set $qa (v128.load ${get("$qp")}))
        (local.set $qb (v128.load offset=16 ${get("$qp")}))
        (if (i32.ge_u $P (i32.const 2))
          (then (local.set $qa (i8x16.shr_u ${get("$qa")} (i32.const 4))) (local.set $qb (i8x16.shr_u ${get("$qb")} (i32.const 4))))
          (else (local.set $qa (v128.and ${get("$qa")} ${splat8(15)})) (local.set $qb (v128.and ${get("$qb")} ${splat8(15)}))))
        (local.set $qp (i32.add ${get("$wb")} (i32.add (i32.const 128) (i32.shl $H (i32.const 5)))))
        (local.set $qa (i8x16.sub (v128.or ${get("$qa")} (i8x16.shl (v128.and (i8x16.shr_u (v128.load ${get("$qp")}) (i32.shl $P (i32.const 1))) ${splat8(3)}) (i32.const 4))) ${splat8(32)}))
        (local.set $qb (i8x16.sub (v128.or ${get("$qb")} (i8x16.shl (v128.and (i8x16.shr_u (v128.load offset=16 ${get("$qp")}) (i32.shl $P (i32.const 1))) ${splat8(3)}) (i32.const 4))) ${splat8(32)}))
        (local.set $qp (i32.add ${get("$wb")} (i32.add (i32.const 192) (i32.add (i32.shl $H (i32.const 3)) (i32.shl $P (i32.const 1))))))
        (local.set $s (f32x4.splat (f32.mul (call $f16 (i32.load16_u offset=208 ${get("$wb")})) (f32.convert_i32_s (i32.load8_s ${get("$qp")})))))
        (local.set $s2 (f32x4.splat (f32.mul (call $f16 (i32.load16_u offset=208 ${get("$wb")})) (f32.convert_i32_s (i32.load8_s offset=1 ${get("$qp")})))))`)
}

/**
 * Q5_0 (d, then qh: a u32 whose bit j is value j's 5th bit, then 16 bytes of nibbles as Q4_0): bit j of qh
 * is spread to byte j (swizzle its byte to 8 lanes, test one bit per lane), put in as 0x10, minus 16.
 */
const bitOf = `(v128.const i8x16 ${[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7].map((b) => 1 << b).join(" ")})`
const fifthBits = (lo: number) =>
  `(v128.and (i8x16.ne (v128.and (i8x16.swizzle (local.get $qh) (v128.const i8x16 ${[...Array(8).fill(lo), ...Array(8).fill(lo + 1)].join(" ")})) ${bitOf}) (v128.const i32x4 0 0 0 0)) ${splat8(16)})`
const q5Quants = `(local.set $qh (v128.load32_splat offset=2 (local.get $wb)))
        (local.set $qa (v128.load offset=6 (local.get $wb)))
        (local.set $qb (i8x16.sub (v128.or (i8x16.shr_u (local.get $qa) (i32.const 4)) ${fifthBits(2)}) ${splat8(16)}))
        (local.set $qa (i8x16.sub (v128.or (v128.and (local.get $qa) ${splat8(15)}) ${fifthBits(0)}) ${splat8(16)}))`

/** Values 4g..4g+3 of the sub-block as f32x4, dequantized (even g also widens the 8 quants g and g + 1 share into $t). */
const group = (t: QuantType, g: number): string => {
  const src = g < 4 ? "$qa" : "$qb"
  const widen = g % 2 === 0 ? `(local.set $t (i16x8.extend_${g % 4 < 2 ? "low" : "high"}_i8x16_s ${get(src)}))\n      ` : ""
  const scaled = `(f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_${g % 2 === 0 ? "low" : "high"}_i16x8_s ${get("$t")})) ${get(g < 4 ? "$s" : "$s2")})`
  return `${widen}(local.set $wv ${t === "q4_k" ? `(f32x4.sub ${scaled} ${get("$m")})` : scaled})`
}

/** The per-column register state of loadSub / group, renamed for column c (so several columns' blocks can be live at once). */
const forColumn = (code: string, c: number): string => code.replace(/\$(qa|qb|qh|s2|s|m|t)(?![\w])/g, `$$$1_${c}`)
const STATE = ["qa", "qb", "qh", "s2", "s", "m", "t"]

/**
 * An R x C tile at rows $r.., columns $o..: accumulate over every sub-block, then store. Per sub-block,
 * every column's quants and scales are loaded first, then each group of 4 values is applied column after
 * column: the C accumulator chains interleave (their FMAs are independent), and a row's x vector is
 * loaded once per group for all columns.
 */
const tile = (t: QuantType, R: number, C: number): string => {
  const lines: Array<string> = []
  for (let i = 0; i < R; i++) lines.push(`(local.set $x${i} (i32.add ${get("$x")} (i32.mul (i32.add ${get("$r")} (i32.const ${i})) ${get("$inB")})))`)
  for (let c = 0; c < C; c++) lines.push(`(local.set $w${c} (i32.add ${get("$w")} (i32.mul (i32.add ${get("$o")} (i32.const ${c})) ${get("$wB")})))`)
  for (let i = 0; i < R; i++) for (let c = 0; c < C; c++) lines.push(`(local.set $a${i}_${c} (v128.const i32x4 0 0 0 0))`)
  lines.push(`(local.set $xo (i32.const 0)) (local.set $sb (i32.const 0))`)
  const body: Array<string> = []
  for (let c = 0; c < C; c++) body.push(`(local.set $wc ${get(`$w${c}`)})`, forColumn(loadSub(t), c))
  for (let g = 0; g < 8; g++) {
    for (let i = 0; i < R; i++) body.push(`(local.set $xv${i} (v128.load offset=${16 * g} (i32.add ${get(`$x${i}`)} ${get("$xo")})))`)
    for (let c = 0; c < C; c++) {
      body.push(forColumn(group(t, g), c))
      for (let i = 0; i < R; i++) body.push(`(local.set $a${i}_${c} (f32x4.relaxed_madd ${get(`$xv${i}`)} ${get("$wv")} ${get(`$a${i}_${c}`)}))`)
    }
  }
  lines.push(`(block $kd (loop $kl
      (br_if $kd (i32.ge_u ${get("$xo")} ${get("$inB")}))
      ${body.join("\n      ")}
      (local.set $xo (i32.add ${get("$xo")} (i32.const 128)))
      (local.set $sb (i32.add ${get("$sb")} (i32.const 1)))
      (br $kl)))`)
  for (let i = 0; i < R; i++) {
    for (let c = 0; c < C; c++) {
      const col = `(i32.add ${get("$o")} (i32.const ${c}))`
      const at = `(i32.add ${get("$out")} (i32.shl (i32.add (i32.mul (i32.add ${get("$r")} (i32.const ${i})) ${get("$outDim")}) ${col}) (i32.const 2)))`
      // $finish_f32 with an empty tail (k0 = inDim): the f32 kernel's lane reduction, then the bias.
      lines.push(`(f32.store ${at} (f32.add (call $finish_f32 ${get(`$a${i}_${c}`)} ${get(`$x${i}`)} ${get(`$w${c}`)} ${get("$in")} ${get("$in")}) (call $biasAt ${get("$bias")} ${col})))`)
    }
  }
  return lines.join("\n      ")
}

const matmul = (t: QuantType): string => {
  const locals = ["$o", "$r", "$rb", "$re", "$inB", "$wB", "$wEnd", "$xo", "$sb", "$wc", "$wb", "$j", "$qp", "$x0", "$x1", "$x2", "$x3",
    ...Array.from({ length: 8 }, (_, c) => `$w${c}`)].map((n) => `(local ${n} i32)`)
  const vlocals = ["$wv", "$xv0", "$xv1", "$xv2", "$xv3"]
  for (let c = 0; c < 8; c++) for (const n of STATE) vlocals.push(`$${n}_${c}`)
  for (let i = 0; i < 4; i++) for (let c = 0; c < 2; c++) vlocals.push(`$a${i}_${c}`)
  for (let c = 2; c < 8; c++) vlocals.push(`$a0_${c}`)
  const inc = (v: string, n: number) => `(local.set ${v} (i32.add ${get(v)} (i32.const ${n})))`
  const rowTiles = (C: number) => loop(`r${C}`, `(i32.lt_u ${get("$r")} ${get("$re")})`, tile(t, 4, C), inc("$r", 4))
  const { values, bytes } = BLOCK[t]
  return `
  (func (export "matmul_${t}") (param $out i32) (param $x i32) (param $w i32) (param $rows i32) (param $in i32) (param $outDim i32) (param $bias i32) (param $o0 i32) (param $o1 i32)
    ${locals.join(" ")}
    ${vlocals.map((n) => `(local ${n} v128)`).join(" ")}
    (local.set $inB (i32.shl ${get("$in")} (i32.const 2)))
    (local.set $wB (i32.mul (i32.div_u ${get("$in")} (i32.const ${values})) (i32.const ${bytes})))
    (local.set $wEnd (i32.sub (i32.add ${get("$w")} (i32.mul ${get("$outDim")} ${get("$wB")})) (i32.const 1)))
    ;; Rows in blocks of ${ROW_BLOCK} (whole 4-row tiles): within a block, columns outer, 4-row tiles inner.
    (local.set $rb (i32.const 0))
    ${loop("blk", `(i32.le_u (i32.add ${get("$rb")} (i32.const 4)) ${get("$rows")})`, `
      (local.set $re (select (i32.add ${get("$rb")} (i32.const ${ROW_BLOCK})) (i32.and ${get("$rows")} (i32.const -4))
        (i32.lt_u (i32.add ${get("$rb")} (i32.const ${ROW_BLOCK})) (i32.and ${get("$rows")} (i32.const -4)))))
      (local.set $o ${get("$o0")})
      ${loop("o2", `(i32.le_u (i32.add ${get("$o")} (i32.const 2)) ${get("$o1")})`, `(local.set $r ${get("$rb")})
      ${rowTiles(2)}`, inc("$o", 2))}
      (if (i32.lt_u ${get("$o")} ${get("$o1")}) (then
        (local.set $r ${get("$rb")})
        ${rowTiles(1)}))`, `(local.set $rb ${get("$re")})`)}
    ;; The last rows mod 4, one at a time: 2 columns per tile (see above), then single columns.
    (local.set $r (i32.and ${get("$rows")} (i32.const -4)))
    ${loop("rr", `(i32.lt_u ${get("$r")} ${get("$rows")})`, `(local.set $o ${get("$o0")})
      ${loop("o8", `(i32.le_u (i32.add ${get("$o")} (i32.const 2)) ${get("$o1")})`, tile(t, 1, 2), inc("$o", 2))}
      ${loop("o1", `(i32.lt_u ${get("$o")} ${get("$o1")})`, tile(t, 1, 1), inc("$o", 1))}`, inc("$r", 1))}
  )`
}

/**
 * dequant_T(dst, w, in, o0, o1): rows [o0, o1) of the matrix (in values each) as f32, one after another
 * at dst: exactly the values the matmul above feeds its FMAs (loadSub and group, the same code). For
 * steps of many rows the matmul runs on these with the f32 kernel (src/engine/wasm/dequantized-matmul.ts):
 * each weight is dequantized once per step instead of once per 4-row tile, with the same bits.
 */
const dequant = (t: QuantType): string => {
  const { values, bytes } = BLOCK[t]
  const stores = Array.from({ length: 8 }, (_, g) => `${group(t, g)}
        (v128.store offset=${16 * g} ${get("$d")} ${get("$wv")})`).join("\n        ")
  return `
  (func (export "dequant_${t}") (param $dst i32) (param $w i32) (param $in i32) (param $o0 i32) (param $o1 i32)
    (local $o i32) (local $d i32) (local $wB i32) (local $wEnd i32) (local $sb i32) (local $subs i32) (local $wc i32) (local $wb i32) (local $j i32) (local $qp i32)
    ${["$wv", ...STATE.map((n) => `$${n}`)].map((n) => `(local ${n} v128)`).join(" ")}
    (local.set $wB (i32.mul (i32.div_u ${get("$in")} (i32.const ${values})) (i32.const ${bytes})))
    (local.set $wEnd (i32.sub (i32.add ${get("$w")} (i32.mul ${get("$o1")} ${get("$wB")})) (i32.const 1)))
    (local.set $subs (i32.shr_u ${get("$in")} (i32.const 5)))
    (local.set $d ${get("$dst")})
    (local.set $o ${get("$o0")})
    ${loop("rows", `(i32.lt_u ${get("$o")} ${get("$o1")})`, `(local.set $wc (i32.add ${get("$w")} (i32.mul ${get("$o")} ${get("$wB")})))
      (local.set $sb (i32.const 0))
      ${loop("subs", `(i32.lt_u ${get("$sb")} ${get("$subs")})`, `${loadSub(t)}
        ${stores}
        (local.set $d (i32.add ${get("$d")} (i32.const 128)))`, `(local.set $sb (i32.add ${get("$sb")} (i32.const 1)))`)}`, `(local.set $o (i32.add ${get("$o")} (i32.const 1)))`)})`
}

/**
 * get_scale_min_k4: the 6-bit scale (which = 0) or min (which = 1) of Q4_K sub-block j, from the 12 packed
 * bytes at block + 4.
 */
const q4kScale = `
  (func $q4kScale (param $b i32) (param $j i32) (param $which i32) (result i32)
    (local $p i32)
    (local.set $p (i32.add (i32.add (local.get $b) (i32.const 4)) (local.get $j)))
    (if (result i32) (i32.lt_u (local.get $j) (i32.const 4))
      (then (i32.and (i32.load8_u (i32.add (local.get $p) (i32.shl (local.get $which) (i32.const 2)))) (i32.const 63)))
      (else (if (result i32) (local.get $which)
        (then (i32.or (i32.shr_u (i32.load8_u offset=4 (local.get $p)) (i32.const 4))
          (i32.shl (i32.shr_u (i32.load8_u (local.get $p)) (i32.const 6)) (i32.const 4))))
        (else (i32.or (i32.and (i32.load8_u offset=4 (local.get $p)) (i32.const 15))
          (i32.shl (i32.shr_u (i32.load8_u (i32.sub (local.get $p) (i32.const 4))) (i32.const 6)) (i32.const 4))))))))`

/** The quantized matmuls (they use $f16, $biasAt and $finish_f32 of tools/wasm-matmul.ts). */
export const quantMatmulWat = (): string => q4kScale + QUANT_TYPES.map((t) => matmul(t) + dequant(t)).join("\n")
