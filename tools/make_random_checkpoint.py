#!/usr/bin/python3
"""Write a random, SmolLM2-135M-shaped Hugging Face checkpoint (for GGUF tests and benchmarks), NumPy only.

    /usr/bin/python3 tools/make_random_checkpoint.py OUT_DIR [--layers 2] [--vocab 1024] [--seed 1]

Per layer it has SmolLM2-135M's shapes (hidden 576, intermediate 1536, 9 heads / 3 kv heads of 64, tied
embeddings, rope theta 100000, BF16), so a GGUF of it meets the same block-size fallbacks as the real model
(576-value rows do not fit the K-quants' 256-value super-blocks). Layers and vocabulary are fewer.

The values come from splitmix64 over (seed, tensor, index) through exact float arithmetic, so the file is the
same byte for byte on any machine and NumPy version (tests rely on its hash). Scales: projections uniform
with variance 1/fan_in (q/k 1.5x for non-uniform attention), embeddings std 0.3, norms 1 +- 0.1*sqrt(3).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguflib.checkpoint import write_safetensors  # noqa: E402

SMOLLM2_135M = dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3,
                    rms_norm_eps=1e-5, rope_theta=100000.0, max_position_embeddings=8192)
_MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(_MASK)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(_MASK)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(_MASK)
    return x ^ (x >> np.uint64(31))


def uniform(seed, stream, shape):
    """Values in (-1, 1): 24 random bits each, exact in float32."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        base = np.uint64((seed * 1000003 + stream) << 32)
        bits = splitmix64(np.arange(n, dtype=np.uint64) + base) >> np.uint64(40)
    return ((bits.astype(np.float64) + 0.5) / 2.0 ** 23 - 1.0).reshape(shape)


def weights(cfg, seed):
    h, im, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out, stream = {}, 0

    def put(name, shape, scale, center=0.0):
        nonlocal stream
        stream += 1
        out[name] = (center + scale * uniform(seed, stream, shape)).astype(np.float32)

    root3 = 3 ** 0.5
    put("model.embed_tokens.weight", (v, h), 0.3 * root3)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        put(p + "input_layernorm.weight", (h,), 0.1 * root3, 1.0)
        put(p + "self_attn.q_proj.weight", (q, h), 1.5 * root3 / h ** 0.5)
        put(p + "self_attn.k_proj.weight", (kv, h), 1.5 * root3 / h ** 0.5)
        put(p + "self_attn.v_proj.weight", (kv, h), root3 / h ** 0.5)
        put(p + "self_attn.o_proj.weight", (h, q), root3 / q ** 0.5)
        put(p + "post_attention_layernorm.weight", (h,), 0.1 * root3, 1.0)
        put(p + "mlp.gate_proj.weight", (im, h), root3 / h ** 0.5)
        put(p + "mlp.up_proj.weight", (im, h), root3 / h ** 0.5)
        put(p + "mlp.down_proj.weight", (h, im), root3 / im ** 0.5)
    put("model.norm.weight", (h,), 0.1 * root3, 1.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=args.vocab,
               num_hidden_layers=args.layers, hidden_act="silu", tie_word_embeddings=True,
               bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16", **SMOLLM2_135M)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), weights(cfg, args.seed), "BF16")


if __name__ == "__main__":
    main()
