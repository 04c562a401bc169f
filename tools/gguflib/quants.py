"""ggml's block quantization in NumPy, written from ggml-quants.c (quantize_row_*_ref and dequantize_row_*).

Every operation is done in float32, in the order the C code does it (sums accumulate element by element,
as the non-vectorised reference loops do; no fused multiply-add), so a block quantizes to the bytes
ggml's reference quantizer writes. The work is vectorised across blocks, never within one.

quantize_<type>(x) takes float32 of shape [rows, cols] and returns uint8 [rows, row_bytes];
dequantize_<type>(raw, n) returns n float32 values.
"""
import numpy as np

from .constants import QK_K

F32 = np.float32
GROUP_MAX_EPS = F32(1e-15)


# ---------------------------------------------------------------------------------------------------------
# scalar helpers with ggml's exact semantics
# ---------------------------------------------------------------------------------------------------------

def f16_bits(v):
    """GGML_FP32_TO_FP16: IEEE round to nearest even (NumPy's float16 cast does the same)."""
    return np.asarray(v, dtype=F32).astype(np.float16).view(np.uint16)


def f16_value(bits):
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(F32)


def bf16_bits(v):
    """GGML_FP32_TO_BF16: round to nearest even on the upper half; NaN forced quiet."""
    u = np.asarray(v, dtype=F32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, ((u >> 16) | 64).astype(np.uint16), rounded)


def bf16_value(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(F32)


def nearest_int(v):
    """ggml's nearest_int (adds 1.5*2^23 in float32): round half to even, defined for |v| <= 4194303."""
    v = np.asarray(v, dtype=F32)
    if not np.all(np.abs(v) <= 4194303):
        raise ValueError("nearest_int argument out of range (non-finite weights?)")
    return np.rint(v).astype(np.int32)


def roundf(v):
    """C roundf: half away from zero (computed in float64, where x + 0.5 is exact for any float32 x)."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v < 0, -np.floor(-v + 0.5), np.floor(v + 0.5))


def seq_sum(terms):
    """Row sums of a [N, n] float32 array, accumulated left to right in float32 as a C loop does."""
    s = np.zeros(terms.shape[0], dtype=F32)
    for i in range(terms.shape[1]):
        s = s + terms[:, i]
    return s


def first_absmax(x):
    """(amax, max) per row as `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` from amax = max = 0."""
    a = np.abs(x)
    idx = np.argmax(a, axis=1)
    amax = a[np.arange(x.shape[0]), idx]
    mx = np.where(amax > 0, x[np.arange(x.shape[0]), idx], F32(0))
    return amax.astype(F32), mx.astype(F32)


def _blocks(x, block):
    x = np.ascontiguousarray(x, dtype=F32)
    if x.shape[-1] % block != 0:
        raise ValueError("row length %d is not a multiple of the block size %d" % (x.shape[-1], block))
    return x.reshape(-1, block)


def _rows(blocks_bytes, rows):
    return blocks_bytes.reshape(rows, -1)


# ---------------------------------------------------------------------------------------------------------
# Q8_0: 32 values, d = amax/127, q = roundf(x/d)
# ---------------------------------------------------------------------------------------------------------

def quantize_q8_0(x):
    rows = x.shape[0]
    b = _blocks(x, 32)
    amax = np.max(np.abs(b), axis=1)
    d = amax / F32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    qs = roundf(b * inv[:, None]).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = qs.view(np.uint8)
    return _rows(out, rows)


def dequantize_q8_0(raw, n):
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)[: n // 32]
    d = f16_value(blk[:, 0:2].copy().view(np.uint16)[:, 0])
    q = blk[:, 2:].view(np.int8).astype(F32)
    return (q * d[:, None]).reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# Q4_0 / Q5_0: 32 values, d = max/-8 (or -16) with max the value of largest magnitude
# ---------------------------------------------------------------------------------------------------------

def _quantize_q_0(x, bias, top):
    b = _blocks(x, 32)
    _, mx = first_absmax(b)
    d = (mx / F32(-bias)).astype(F32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    # MIN(top, (int8_t)(x*id + bias.5f)): truncation toward zero of a float32 sum
    shifted = (b * inv[:, None]) + F32(bias + 0.5)
    q = np.minimum(top, np.trunc(shifted).astype(np.int32)).astype(np.uint8)
    return b.shape[0], d, q


def quantize_q4_0(x):
    nb, d, q = _quantize_q_0(x, 8, 15)
    out = np.empty((nb, 18), dtype=np.uint8)
    out[:, 0:2] = f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return _rows(out, x.shape[0])


def dequantize_q4_0(raw, n):
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)[: n // 32]
    d = f16_value(blk[:, 0:2].copy().view(np.uint16)[:, 0])
    qs = blk[:, 2:].astype(np.int32)
    q = np.concatenate([(qs & 0x0F) - 8, (qs >> 4) - 8], axis=1).astype(F32)
    return (q * d[:, None]).reshape(-1)


def quantize_q5_0(x):
    nb, d, q = _quantize_q_0(x, 16, 31)
    high = ((q >> 4) & 1).astype(np.uint32)
    qh = np.zeros(nb, dtype=np.uint32)
    for j in range(32):
        qh |= high[:, j] << np.uint32(j)
    out = np.empty((nb, 22), dtype=np.uint8)
    out[:, 0:2] = f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:6] = qh.astype("<u4").view(np.uint8).reshape(-1, 4)
    out[:, 6:] = (q[:, :16] & 0x0F) | ((q[:, 16:] & 0x0F) << 4)
    return _rows(out, x.shape[0])


def dequantize_q5_0(raw, n):
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 22)[: n // 32]
    d = f16_value(blk[:, 0:2].copy().view(np.uint16)[:, 0])
    qh = blk[:, 2:6].copy().view("<u4")[:, 0].astype(np.int64)
    qs = blk[:, 6:].astype(np.int64)
    bits = (qh[:, None] >> np.arange(32)) & 1
    q = np.concatenate([(qs & 0x0F) | (bits[:, :16] << 4), (qs >> 4) | (bits[:, 16:] << 4)], axis=1) - 16
    return (q.astype(F32) * d[:, None]).reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# Q4_K: super-blocks of 256 = 8 sub-blocks of 32, x = d*sc*q - dmin*m with 6-bit sc, m
# ---------------------------------------------------------------------------------------------------------

def _make_qkx2_quants(x, w, nmax=15, rmin=-1.0, rdelta=0.1, nstep=20):
    """make_qkx2_quants for every row of x at once: -> (scale, the_min, L)."""
    n = x.shape[0]
    mn = x.min(axis=1)
    mx = x.max(axis=1)
    sum_w = seq_sum(w)
    sum_x = seq_sum(w * x)
    mn = np.where(mn > 0, F32(0), mn).astype(F32)
    flat = mx == mn
    span = np.where(flat, F32(1), mx - mn).astype(F32)
    xm = x - mn[:, None]

    iscale = (F32(nmax) / span).astype(F32)
    scale = (F32(1) / iscale).astype(F32)
    L = np.clip(nearest_int(iscale[:, None] * xm), 0, nmax)
    diff = (scale[:, None] * L.astype(F32) + mn[:, None]) - x
    best = seq_sum(w * (diff * diff))
    with np.errstate(divide="ignore", invalid="ignore"):
        for step in range(nstep + 1):
            # min moves when a step wins, and later steps measure from the new min (as the C loop does)
            span = np.where(flat, F32(1), mx - mn).astype(F32)
            xm = x - mn[:, None]
            iscale = ((F32(rmin) + F32(rdelta) * F32(step) + F32(nmax)) / span).astype(F32)
            laux = np.clip(nearest_int(iscale[:, None] * xm), 0, nmax)
            lf = laux.astype(F32)
            wl = w * lf
            sum_l = seq_sum(wl)
            sum_l2 = seq_sum(wl * lf)
            sum_xl = seq_sum(wl * x)
            D = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            clamp = this_min > 0
            this_min = np.where(clamp, F32(0), this_min).astype(F32)
            this_scale = np.where(clamp, sum_xl / sum_l2, this_scale).astype(F32)
            diff = (this_scale[:, None] * lf + this_min[:, None]) - x
            cur = seq_sum(w * (diff * diff))
            better = (D > 0) & (cur < best) & ~flat
            L = np.where(better[:, None], laux, L)
            best = np.where(better, cur, best)
            scale = np.where(better, this_scale, scale)
            mn = np.where(better, this_min, mn)
    L = np.where(flat[:, None], 0, L)
    scale = np.where(flat, F32(0), scale).astype(F32)
    return scale, (-mn).astype(F32), L.astype(np.int32)


def _pack_k_scales(ls, lm):
    """The 12-byte scales[] of a Q4_K block from eight 6-bit scales and mins (as quantize_row_q4_K_ref)."""
    s = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    for j in range(8):
        if j < 4:
            s[:, j] = ls[:, j]
            s[:, j + 4] = lm[:, j]
        else:
            s[:, j + 4] = (ls[:, j] & 0xF) | ((lm[:, j] & 0xF) << 4)
            s[:, j - 4] |= (ls[:, j] >> 4) << 6
            s[:, j] |= (lm[:, j] >> 4) << 6
    return s


def unpack_k_scales(s):
    """get_scale_min_k4 for j = 0..7: -> (sc, m), each [blocks, 8]."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), dtype=np.int32)
    m = np.empty((s.shape[0], 8), dtype=np.int32)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            m[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            m[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, m


def _positive_max(v):
    """`float m = 0; if (v > m) m = v;` over each row."""
    m = v.max(axis=1)
    return np.where(m > 0, m, F32(0)).astype(F32)


def quantize_q4_K(x):
    rows = x.shape[0]
    b = _blocks(x, QK_K)
    nb = b.shape[0]
    sub = b.reshape(nb * 8, 32)
    av_x = np.sqrt(seq_sum(sub * sub) / F32(32)).astype(F32)
    weights = av_x[:, None] + np.abs(sub)
    scales, mins, L = _make_qkx2_quants(sub, weights)
    scales = scales.reshape(nb, 8)
    mins = mins.reshape(nb, 8)
    max_scale = _positive_max(scales)
    max_min = _positive_max(mins)
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0)).astype(F32)
        inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0)).astype(F32)
    # `uint8_t ls = nearest_int(...)` wraps before MIN(63, ls)
    ls = np.minimum(nearest_int(inv_scale[:, None] * scales) & 0xFF, 63).astype(np.uint8)
    lm = np.minimum(nearest_int(inv_min[:, None] * mins) & 0xFF, 63).astype(np.uint8)
    d_bits = f16_bits(max_scale / F32(63))
    dmin_bits = f16_bits(max_min / F32(63))

    # second pass: requantize against the rounded scales; sub-blocks whose scale is 0 keep their L
    d = (f16_value(d_bits)[:, None] * ls.astype(F32)).reshape(-1)
    dm = (f16_value(dmin_bits)[:, None] * lm.astype(F32)).reshape(-1)
    live = d != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(live[:, None], (sub + dm[:, None]) / np.where(live, d, F32(1))[:, None], F32(0))
    L = np.where(live[:, None], np.clip(nearest_int(ratio), 0, 15), L).reshape(nb, QK_K)

    out = np.empty((nb, 144), dtype=np.uint8)
    out[:, 0:2] = d_bits.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = dmin_bits.view(np.uint8).reshape(-1, 2)
    out[:, 4:16] = _pack_k_scales(ls, lm)
    for c in range(4):  # each 32 bytes: low nibbles from L[64c + l], high from L[64c + 32 + l]
        lo = L[:, 64 * c: 64 * c + 32]
        hi = L[:, 64 * c + 32: 64 * c + 64]
        out[:, 16 + 32 * c: 48 + 32 * c] = (lo | (hi << 4)).astype(np.uint8)
    return _rows(out, rows)


def dequantize_q4_K(raw, n):
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 144)[: n // QK_K]
    d = f16_value(blk[:, 0:2].copy().view(np.uint16)[:, 0])
    dmin = f16_value(blk[:, 2:4].copy().view(np.uint16)[:, 0])
    sc, m = unpack_k_scales(blk[:, 4:16])
    d_sub = d[:, None] * sc.astype(F32)     # [nb, 8] float32
    m_sub = dmin[:, None] * m.astype(F32)
    qs = blk[:, 16:].astype(np.int32)
    out = np.empty((blk.shape[0], QK_K), dtype=F32)
    for c in range(4):
        q = qs[:, 32 * c: 32 * c + 32]
        out[:, 64 * c: 64 * c + 32] = d_sub[:, 2 * c, None] * (q & 0xF).astype(F32) - m_sub[:, 2 * c, None]
        out[:, 64 * c + 32: 64 * c + 64] = d_sub[:, 2 * c + 1, None] * (q >> 4).astype(F32) - m_sub[:, 2 * c + 1, None]
    return out.reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# Q6_K: super-blocks of 256 = 16 sub-blocks of 16, x = d*sc*q with int8 sc and 6-bit q
# ---------------------------------------------------------------------------------------------------------

def _make_qx_quants(x, nmax=32):
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL) for every row of x: -> (scale, L in [0, 2*nmax))."""
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    safe_max = np.where(zero, F32(1), mx).astype(F32)
    w = x * x

    def attempt(iscale):
        l = np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1)
        lf = l.astype(F32)
        return l + nmax, seq_sum((w * x) * lf), seq_sum((w * lf) * lf)

    L, sumlx, suml2 = attempt((F32(-nmax) / safe_max).astype(F32))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0)).astype(F32)
        best = scale * sumlx
        for step in [s for s in range(-9, 10) if s != 0]:
            iscale = (-(F32(nmax) + F32(0.1) * F32(step)) / safe_max).astype(F32)
            l, sumlx, suml2 = attempt(iscale)
            better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
            L = np.where(better[:, None], l, L)
            scale = np.where(better, sumlx / suml2, scale).astype(F32)
            best = np.where(better, scale * sumlx, best).astype(F32)
    L = np.where(zero[:, None], 0, L)
    scale = np.where(zero, F32(0), scale).astype(F32)
    return scale, L.astype(np.int32)


def quantize_q6_K(x):
    rows = x.shape[0]
    b = _blocks(x, QK_K)
    nb = b.shape[0]
    sub = b.reshape(nb * 16, 16)
    scales, L = _make_qx_quants(sub)
    scales = scales.reshape(nb, 16)
    max_abs, max_scale = first_absmax(scales)
    zero = max_abs < GROUP_MAX_EPS
    safe = np.where(zero, F32(1), max_scale).astype(F32)
    iscale = (F32(-128) / safe).astype(F32)
    d_bits = np.where(zero, np.uint16(0), f16_bits(F32(1) / iscale))
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales)).astype(np.int8)

    d = (f16_value(d_bits)[:, None] * sc.astype(F32)).reshape(-1)
    live = d != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(live[:, None], sub / np.where(live, d, F32(1))[:, None], F32(0))
    L = np.where(live[:, None], np.clip(nearest_int(ratio), -32, 31) + 32, L).reshape(nb, QK_K)

    out = np.zeros((nb, 210), dtype=np.uint8)
    for half in range(2):  # 128 values each: ql[64], qh[32]
        base = 128 * half
        q = [L[:, base + 32 * k: base + 32 * k + 32] for k in range(4)]
        ql = out[:, 64 * half: 64 * half + 64]
        ql[:, 0:32] = (q[0] & 0xF) | ((q[2] & 0xF) << 4)
        ql[:, 32:64] = (q[1] & 0xF) | ((q[3] & 0xF) << 4)
        out[:, 128 + 32 * half: 160 + 32 * half] = (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6)
    out[:, 192:208] = sc.view(np.uint8)
    out[:, 208:210] = d_bits.astype(np.uint16).view(np.uint8).reshape(-1, 2)
    out[zero] = 0
    return _rows(out, rows)


def dequantize_q6_K(raw, n):
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 210)[: n // QK_K]
    d = f16_value(blk[:, 208:210].copy().view(np.uint16)[:, 0])
    sc = blk[:, 192:208].view(np.int8).astype(F32)
    out = np.empty((blk.shape[0], QK_K), dtype=F32)
    for half in range(2):
        ql = blk[:, 64 * half: 64 * half + 64].astype(np.int32)
        qh = blk[:, 128 + 32 * half: 160 + 32 * half].astype(np.int32)
        q = [
            ((ql[:, 0:32] & 0xF) | (((qh >> 0) & 3) << 4)) - 32,
            ((ql[:, 32:64] & 0xF) | (((qh >> 2) & 3) << 4)) - 32,
            ((ql[:, 0:32] >> 4) | (((qh >> 4) & 3) << 4)) - 32,
            ((ql[:, 32:64] >> 4) | (((qh >> 6) & 3) << 4)) - 32,
        ]
        for k in range(4):
            # y[l + 32k] = d * sc[is + 2k] * q_k with is = l / 16: the first 16 values use one scale, the next 16 the next
            for h in range(2):
                s = sc[:, 8 * half + 2 * k + h]
                first = 128 * half + 32 * k + 16 * h
                out[:, first: first + 16] = (d * s)[:, None] * q[k][:, 16 * h: 16 * h + 16].astype(F32)
    return out.reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# float types
# ---------------------------------------------------------------------------------------------------------

def quantize_f32(x):
    return np.ascontiguousarray(x, dtype="<f4").view(np.uint8).reshape(x.shape[0], -1)


def quantize_f16(x):
    return f16_bits(x).astype("<u2").view(np.uint8).reshape(x.shape[0], -1)


def quantize_bf16(x):
    return bf16_bits(x).astype("<u2").view(np.uint8).reshape(x.shape[0], -1)


def dequantize_f32(raw, n):
    return np.frombuffer(raw, dtype="<f4", count=n).astype(F32)


def dequantize_f16(raw, n):
    return f16_value(np.frombuffer(raw, dtype="<u2", count=n))


def dequantize_bf16(raw, n):
    return bf16_value(np.frombuffer(raw, dtype="<u2", count=n))
