;; SIMD matmul for the forward pass: out[r, o] = sum_i x[r, i] * w[o, i] + bias[o]  (w is [outDim, inDim]).
;;
;; Exactness rule (see kernels.ts): every output element is computed the same way whatever tile it falls
;; in: one f32x4 accumulator over i in steps of 4 (lanes i mod 4), reduced as (l0 + l1) + (l2 + l3), then
;; the scalar tail i >= inDim - inDim mod 4 in ascending order, then the bias. So a row's result never
;; depends on how many rows share the call. Tiles only decide which elements are computed together:
;;   4 rows x 1 column while at least 4 rows remain (one weight row feeds 4 accumulators),
;;   1 row x 4 columns for the remaining rows (one input row feeds 4 accumulators: decode at batch 1),
;;   1 x 1 for what is left.
;; Pointers are byte offsets into the shared memory; bias 0 means no bias.
(module
  (memory (import "env" "memory") 1 65536 shared)

  ;; Horizontal sum of the 4 lanes in a fixed order.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; One element, finished: lanes reduced, scalar tail from $k0 to $in added in order.
  (func $finish (param $acc v128) (param $x i32) (param $w i32) (param $k0 i32) (param $in i32) (result f32)
    (local $s f32) (local $k i32)
    (local.set $s (call $hsum (local.get $acc)))
    (local.set $k (local.get $k0))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $k) (local.get $in)))
        (local.set $s (f32.add (local.get $s)
          (f32.mul (f32.load (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
                   (f32.load (i32.add (local.get $w) (i32.shl (local.get $k) (i32.const 2)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $tail)))
    (local.get $s))

  (func $biasAt (param $bias i32) (param $o i32) (result f32)
    (if (result f32) (local.get $bias)
      (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 2)))))
      (else (f32.const 0))))

  (func (export "matmul") (param $out i32) (param $x i32) (param $w i32) (param $rows i32) (param $in i32) (param $outDim i32) (param $bias i32)
    (local $o i32) (local $r i32) (local $k i32) (local $k4 i32) (local $inBytes i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $off i32)
    (local.set $inBytes (i32.shl (local.get $in) (i32.const 2)))
    (local.set $k4 (i32.and (local.get $in) (i32.const -4)))

    ;; 4 rows x 1 column tiles.
    (local.set $o (i32.const 0))
    (block $oDone
      (loop $oLoop
        (br_if $oDone (i32.ge_u (local.get $o) (local.get $outDim)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $inBytes))))
        (local.set $r (i32.const 0))
        (block $rDone
          (loop $rLoop
            (br_if $rDone (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
            (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $inBytes))))
            (local.set $x1 (i32.add (local.get $x0) (local.get $inBytes)))
            (local.set $x2 (i32.add (local.get $x1) (local.get $inBytes)))
            (local.set $x3 (i32.add (local.get $x2) (local.get $inBytes)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $off (i32.const 0))
            (block $kDone
              (loop $kLoop
                (br_if $kDone (i32.ge_u (local.get $off) (i32.shl (local.get $k4) (i32.const 2))))
                (local.set $v (v128.load (i32.add (local.get $w0) (local.get $off))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $x0) (local.get $off))) (local.get $v))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $x1) (local.get $off))) (local.get $v))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $x2) (local.get $off))) (local.get $v))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $x3) (local.get $off))) (local.get $v))))
                (local.set $off (i32.add (local.get $off) (i32.const 16)))
                (br $kLoop)))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a0) (local.get $x0) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (call $store (local.get $out) (i32.add (local.get $r) (i32.const 1)) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a1) (local.get $x1) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (call $store (local.get $out) (i32.add (local.get $r) (i32.const 2)) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a2) (local.get $x2) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (call $store (local.get $out) (i32.add (local.get $r) (i32.const 3)) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a3) (local.get $x3) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $rLoop)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $oLoop)))

    ;; Remaining rows (rows mod 4): 1 row x 4 columns, then 1 x 1.
    (local.set $r (i32.and (local.get $rows) (i32.const -4)))
    (block $r2Done
      (loop $r2Loop
        (br_if $r2Done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $inBytes))))
        (local.set $o (i32.const 0))
        (block $o4Done
          (loop $o4Loop
            (br_if $o4Done (i32.gt_u (i32.add (local.get $o) (i32.const 4)) (local.get $outDim)))
            (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $inBytes))))
            (local.set $w1 (i32.add (local.get $w0) (local.get $inBytes)))
            (local.set $w2 (i32.add (local.get $w1) (local.get $inBytes)))
            (local.set $w3 (i32.add (local.get $w2) (local.get $inBytes)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $off (i32.const 0))
            (block $kDone2
              (loop $kLoop2
                (br_if $kDone2 (i32.ge_u (local.get $off) (i32.shl (local.get $k4) (i32.const 2))))
                (local.set $v (v128.load (i32.add (local.get $x0) (local.get $off))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $w0) (local.get $off))))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $w1) (local.get $off))))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $w2) (local.get $off))))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $w3) (local.get $off))))))
                (local.set $off (i32.add (local.get $off) (i32.const 16)))
                (br $kLoop2)))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a0) (local.get $x0) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (i32.add (local.get $o) (i32.const 1))
              (f32.add (call $finish (local.get $a1) (local.get $x0) (local.get $w1) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (i32.add (local.get $o) (i32.const 1)))))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (i32.add (local.get $o) (i32.const 2))
              (f32.add (call $finish (local.get $a2) (local.get $x0) (local.get $w2) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (i32.add (local.get $o) (i32.const 2)))))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (i32.add (local.get $o) (i32.const 3))
              (f32.add (call $finish (local.get $a3) (local.get $x0) (local.get $w3) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (i32.add (local.get $o) (i32.const 3)))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $o4Loop)))
        (block $o1Done
          (loop $o1Loop
            (br_if $o1Done (i32.ge_u (local.get $o) (local.get $outDim)))
            (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $inBytes))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $off (i32.const 0))
            (block $kDone3
              (loop $kLoop3
                (br_if $kDone3 (i32.ge_u (local.get $off) (i32.shl (local.get $k4) (i32.const 2))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $x0) (local.get $off))) (v128.load (i32.add (local.get $w0) (local.get $off))))))
                (local.set $off (i32.add (local.get $off) (i32.const 16)))
                (br $kLoop3)))
            (call $store (local.get $out) (local.get $r) (local.get $outDim) (local.get $o)
              (f32.add (call $finish (local.get $a0) (local.get $x0) (local.get $w0) (local.get $k4) (local.get $in)) (call $biasAt (local.get $bias) (local.get $o))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $o1Loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r2Loop))))

  (func $store (param $out i32) (param $r i32) (param $outDim i32) (param $o i32) (param $val f32)
    (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $outDim)) (local.get $o)) (i32.const 2))) (local.get $val)))
)
