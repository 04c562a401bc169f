#!/usr/bin/python3
"""Write a GGUF of random quantized blocks in a real model's shape (for load and speed checks of models too
large to ship or download, such as Llama 3 8B at Q4_K_M: ~4.9 GB), NumPy only.

    /usr/bin/python3 tools/make_random_gguf.py OUT.gguf [--shape llama3-8b] [--type q4_k_m] [--layers N] [--seed 1]

Tensor types follow llama.cpp's choice for --type (tools/gguflib/layout.py's TypePlan, Q4_K_M's Q6_K layers
included). Blocks hold random bits with their scales set so that weights have a standard deviation of about
1/sqrt(columns), as a trained model's do, and the norms are 1: the model computes finite, varied logits. The
tokenizer is the bundled model's (byte-level BPE, 4,096 tokens) padded with unused tokens to the shape's
vocabulary, so llama.cpp and Inferline both load the file and tokenize text the same way.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguflib.constants import TYPE_INFO, GGMLType  # noqa: E402
from gguflib.convert import _add_meta, _hyperparameters  # noqa: E402
from gguflib.layout import TypePlan  # noqa: E402
from gguflib.tokenizer_meta import tokenizer_metadata  # noqa: E402
from gguflib.writer import GGUFWriter, TensorPlan  # noqa: E402

SHAPES = {
    "llama3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                      max_position_embeddings=8192, tie_word_embeddings=False),
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, rope_theta=100000.0, rms_norm_eps=1e-5,
                         max_position_embeddings=8192, tie_word_embeddings=True),
}
BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "inferline-kjv")


def f16(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def random_blocks(rng, ggml_type, rows, cols):
    """rows x cols values of ggml_type as random blocks whose values have std ~ 1/sqrt(cols)."""
    name, per, size = TYPE_INFO[ggml_type]
    n = rows * cols // per
    b = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    target = 1 / np.sqrt(cols)
    jitter = rng.uniform(0.75, 1.25, size=n)
    if ggml_type == GGMLType.Q4_K:
        # d * sc * q - dmin * m with 6-bit sc, m and 4-bit q: std(sc * q) ~ 160, mean(sc * q) ~ 230 = 31 * dmin/d
        b[:, 0:2] = f16(target / 160 * jitter)
        b[:, 2:4] = f16(target / 160 * 230 / 31 * jitter)
    elif ggml_type == GGMLType.Q6_K:
        b[:, 208:210] = f16(target / 1370 * jitter)  # d * scale (int8, std ~74) * (q - 32) (std ~18.5)
    elif ggml_type in (GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q5_0):
        spread = {GGMLType.Q8_0: 74, GGMLType.Q4_0: 4.6, GGMLType.Q5_0: 9.2}[ggml_type]
        b[:, 0:2] = f16(target / spread * jitter)
    elif ggml_type in (GGMLType.F16, GGMLType.F32):
        v = rng.normal(0, target, size=rows * cols)
        return np.ascontiguousarray(v, dtype="<f2" if ggml_type == GGMLType.F16 else "<f4").view(np.uint8)
    else:
        raise ValueError("type %s is not supported here" % name)
    return b.reshape(-1)


def tensor_list(cfg):
    """(GGUF name, rows, cols) in llama.cpp's order."""
    h, i, nh, nkv = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // nh
    out = [("token_embd.weight", cfg["vocab_size"], h)]
    for layer in range(cfg["num_hidden_layers"]):
        p = "blk.%d." % layer
        out += [(p + "attn_norm.weight", 1, h), (p + "attn_q.weight", h, h), (p + "attn_k.weight", nkv * hd, h),
                (p + "attn_v.weight", nkv * hd, h), (p + "attn_output.weight", h, h), (p + "ffn_norm.weight", 1, h),
                (p + "ffn_gate.weight", i, h), (p + "ffn_up.weight", i, h), (p + "ffn_down.weight", h, i)]
    out.append(("output_norm.weight", 1, h))
    if not cfg["tie_word_embeddings"]:
        out.append(("output.weight", cfg["vocab_size"], h))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b")
    ap.add_argument("--type", default="q4_k_m", choices=["q4_k_m", "q4_k", "q6_k", "q8_0", "q4_0", "f16"])
    ap.add_argument("--layers", type=int, default=None, help="fewer (or more) layers than the shape has")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = dict(SHAPES[args.shape])
    if args.layers is not None:
        cfg["num_hidden_layers"] = args.layers
    plan = TypePlan(args.type, cfg["num_hidden_layers"], cfg["tie_word_embeddings"])
    rng = np.random.default_rng(args.seed)
    w = GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_string("general.type", "model")
    w.add_string("general.name", "random-%s-%s" % (args.shape, args.type))
    _hyperparameters(w, cfg, "llama")
    w.add_u32("general.file_type", plan.file_type)
    w.add_u32("general.quantization_version", 2)
    _add_meta(w, tokenizer_metadata(BUNDLED, cfg))
    for name, rows, cols in tensor_list(cfg):
        if rows == 1:
            w.add_tensor(TensorPlan(name, [cols], GGMLType.F32, lambda c=cols: np.ones(c, dtype="<f4").view(np.uint8)))
            continue
        t = plan.choose(name, (rows, cols))
        w.add_tensor(TensorPlan(name, [cols, rows], t, lambda t=t, r=rows, c=cols: random_blocks(rng, t, r, c)))
    w.write(args.out)
    print("wrote %s (%.2f GB)" % (args.out, os.path.getsize(args.out) / 1e9))


if __name__ == "__main__":
    main()
