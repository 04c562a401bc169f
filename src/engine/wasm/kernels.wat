;; Hand-written WASM kernels (the body of the module; tools/build-wasm.ts adds the imported shared memory
;; and the generated matmuls of tools/wasm-matmul.ts). Pointers are byte offsets into the shared memory.

  ;; Horizontal sum of 4 lanes in a fixed order.
  (func $hsum4 (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; exp of 4 lanes (Cephes expf: x = n ln2 + r, a degree-6 polynomial in r, times 2^n); relative error
  ;; ~1e-7. Inputs are clamped to [-87.3, 88.3] so 2^n stays a normal float.
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.max (f32x4.min (local.get $x) (v128.const f32x4 88.3 88.3 88.3 88.3)) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x)
      (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $n) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
      (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; silu(g) * u for 4 lanes.
  (func $siluMul4 (param $g v128) (param $u v128) (result v128)
    (f32x4.mul
      (f32x4.div (local.get $g) (f32x4.add (v128.const f32x4 1 1 1 1) (call $exp4 (f32x4.neg (local.get $g)))))
      (local.get $u)))

  ;; gate[i] = silu(gate[i]) * up[i] for i in [i0, i1) (element indices); the last < 4 one lane at a time.
  (func (export "silu_mul") (param $g i32) (param $u i32) (param $i0 i32) (param $i1 i32)
    (local $a i32) (local $b i32)
    (block $d (loop $l
      (br_if $d (i32.gt_u (i32.add (local.get $i0) (i32.const 4)) (local.get $i1)))
      (local.set $a (i32.add (local.get $g) (i32.shl (local.get $i0) (i32.const 2))))
      (local.set $b (i32.add (local.get $u) (i32.shl (local.get $i0) (i32.const 2))))
      (v128.store (local.get $a) (call $siluMul4 (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
      (br $l)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $i0) (local.get $i1)))
      (local.set $a (i32.add (local.get $g) (i32.shl (local.get $i0) (i32.const 2))))
      (local.set $b (i32.add (local.get $u) (i32.shl (local.get $i0) (i32.const 2))))
      (f32.store (local.get $a) (f32x4.extract_lane 0
        (call $siluMul4 (f32x4.splat (f32.load (local.get $a))) (f32x4.splat (f32.load (local.get $b))))))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
      (br $l1))))

  ;; h[i] += x[i] for i in [i0, i1).
  (func (export "add_in_place") (param $h i32) (param $x i32) (param $i0 i32) (param $i1 i32)
    (local $a i32) (local $b i32)
    (block $d (loop $l
      (br_if $d (i32.gt_u (i32.add (local.get $i0) (i32.const 4)) (local.get $i1)))
      (local.set $a (i32.add (local.get $h) (i32.shl (local.get $i0) (i32.const 2))))
      (local.set $b (i32.add (local.get $x) (i32.shl (local.get $i0) (i32.const 2))))
      (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
      (br $l)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $i0) (local.get $i1)))
      (local.set $a (i32.add (local.get $h) (i32.shl (local.get $i0) (i32.const 2))))
      (local.set $b (i32.add (local.get $x) (i32.shl (local.get $i0) (i32.const 2))))
      (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32.load (local.get $b))))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
      (br $l1))))

  ;; out[r] = w * (x[r] * inv), inv = 1 / sqrt(mean(x[r]^2) + eps), for rows [r0, r1). The sum of squares
  ;; is one f32x4 accumulator in order, reduced in a fixed order, then the scalar tail.
  (func (export "rms_norm") (param $out i32) (param $x i32) (param $w i32) (param $r0 i32) (param $r1 i32) (param $dim i32) (param $eps f32)
    (local $xr i32) (local $or i32) (local $i i32) (local $k4 i32) (local $acc v128) (local $v v128) (local $ss f32) (local $inv f32) (local $vinv v128)
    (local.set $k4 (i32.and (local.get $dim) (i32.const -4)))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $r0) (local.get $r1)))
      (local.set $xr (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r0) (local.get $dim)) (i32.const 2))))
      (local.set $or (i32.add (local.get $out) (i32.shl (i32.mul (local.get $r0) (local.get $dim)) (i32.const 2))))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $i (i32.const 0))
      (block $sd (loop $sl
        (br_if $sd (i32.ge_u (local.get $i) (local.get $k4)))
        (local.set $v (v128.load (i32.add (local.get $xr) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $acc (f32x4.relaxed_madd (local.get $v) (local.get $v) (local.get $acc)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $sl)))
      (local.set $ss (call $hsum4 (local.get $acc)))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $i) (local.get $dim)))
        (local.set $ss (f32.add (local.get $ss) (f32.mul
          (f32.load (i32.add (local.get $xr) (i32.shl (local.get $i) (i32.const 2))))
          (f32.load (i32.add (local.get $xr) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tl)))
      (local.set $inv (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div (local.get $ss) (f32.convert_i32_u (local.get $dim))) (local.get $eps)))))
      (local.set $vinv (f32x4.splat (local.get $inv)))
      (local.set $i (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $i) (local.get $k4)))
        (v128.store (i32.add (local.get $or) (i32.shl (local.get $i) (i32.const 2)))
          (f32x4.mul (v128.load (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2))))
            (f32x4.mul (v128.load (i32.add (local.get $xr) (i32.shl (local.get $i) (i32.const 2)))) (local.get $vinv))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $ol)))
      (block $o1d (loop $o1l
        (br_if $o1d (i32.ge_u (local.get $i) (local.get $dim)))
        (f32.store (i32.add (local.get $or) (i32.shl (local.get $i) (i32.const 2)))
          (f32.mul (f32.load (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2))))
            (f32.mul (f32.load (i32.add (local.get $xr) (i32.shl (local.get $i) (i32.const 2)))) (local.get $inv))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $o1l)))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 1)))
      (br $rl))))
