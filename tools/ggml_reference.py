#!/usr/bin/python3
"""ggml's own quantize_row_*_ref / dequantize_row_*, called through ctypes in the libggml-base.so that
node-llama-cpp ships (node_modules/@node-llama-cpp/<platform>/bins/*/), as an independent reference:

    /usr/bin/python3 tools/ggml_reference.py dequantize TYPE IN OUT   raw blocks in IN -> float32 LE in OUT
    /usr/bin/python3 tools/ggml_reference.py quantize TYPE IN OUT     float32 LE in IN -> ggml's blocks in OUT
    /usr/bin/python3 tools/ggml_reference.py check-quantizers         tools/gguflib/quants.py vs ggml, byte for byte

TYPE: q8_0 q4_0 q5_0 q4_K q6_K (block types; F16/BF16 are plain IEEE conversions).
"""
import ctypes
import glob
import os
import platform
import sys

import numpy as np

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
from gguflib import quants  # noqa: E402

BLOCKS = {"q8_0": (32, 34), "q4_0": (32, 18), "q5_0": (32, 22), "q4_K": (256, 144), "q6_K": (256, 210)}


def load_ggml():
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    plat = "%s-%s" % (sys.platform.replace("darwin", "mac"), arch)
    ext = "dylib" if sys.platform == "darwin" else "so"
    found = sorted(glob.glob(os.path.join(ROOT, "node_modules", "@node-llama-cpp", plat, "bins", "*", "libggml-base." + ext)))
    if not found:
        sys.exit("ggml_reference: no libggml-base.%s under node_modules/@node-llama-cpp/%s (is node-llama-cpp installed?)" % (ext, plat))
    return ctypes.CDLL(found[0])


def ggml_dequantize(lib, name, raw, n):
    y = np.zeros(n, dtype=np.float32)
    src = np.frombuffer(raw, dtype=np.uint8).copy()
    getattr(lib, "dequantize_row_" + name)(src.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(n))
    return y


def ggml_quantize(lib, name, x):
    block, size = BLOCKS[name]
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    out = np.zeros(x.size // block * size, dtype=np.uint8)
    getattr(lib, "quantize_row_%s_ref" % name)(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.size))
    return out


def test_inputs(rng):
    """Rows of 512 values at several scales, with all-zero, constant, one-sided and one-spike blocks."""
    for scale in (1e-3, 0.02, 1.0, 300.0):
        x = (rng.standard_normal((32, 512)) * scale).astype(np.float32)
        x[0] = 0
        x[1, :256] = scale
        x[2] = np.abs(x[2])
        x[3] = -np.abs(x[3])
        x[4, :] = 0
        x[4, 7] = scale
        x[5, :32] = x[5, 0]
        yield x


def check_quantizers(lib):
    rng = np.random.default_rng(20260601)
    failures = 0
    for name in BLOCKS:
        mine_q = getattr(quants, "quantize_" + name)
        mine_dq = getattr(quants, "dequantize_" + name)
        for i, x in enumerate(test_inputs(rng)):
            theirs = ggml_quantize(lib, name, x)
            mine = mine_q(x).reshape(-1)
            same_bytes = np.array_equal(mine, theirs)
            same_values = np.array_equal(mine_dq(theirs.tobytes(), x.size).view(np.uint32), ggml_dequantize(lib, name, theirs, x.size).view(np.uint32))
            print("%-5s inputs %d: quantized bytes %s, dequantized values %s" % (
                name, i, "identical" if same_bytes else "DIFFER (%d bytes)" % int((mine != theirs).sum()),
                "identical" if same_values else "DIFFER"))
            failures += (not same_bytes) + (not same_values)
    return failures


def main():
    lib = load_ggml()
    if sys.argv[1:2] == ["dequantize"] and len(sys.argv) == 5:
        name, src, dst = sys.argv[2:]
        block, size = BLOCKS[name]
        with open(src, "rb") as f:
            raw = f.read()
        ggml_dequantize(lib, name, raw, len(raw) // size * block).astype("<f4").tofile(dst)
    elif sys.argv[1:2] == ["quantize"] and len(sys.argv) == 5:
        name, src, dst = sys.argv[2:]
        ggml_quantize(lib, name, np.fromfile(src, dtype="<f4")).tofile(dst)
    elif sys.argv[1:] == ["check-quantizers"]:
        sys.exit(1 if check_quantizers(lib) else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
