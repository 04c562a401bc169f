"""Hugging Face Llama-family checkpoint -> GGUF v3 in llama.cpp's layout (see tools/hf_to_gguf.py)."""
import os
import re

import numpy as np

from . import quants
from .checkpoint import list_tensors, read_config
from .constants import GGML_QUANT_VERSION, GGMLType, ValueType
from .layout import ARCHITECTURES, TypePlan, gguf_name, head_dim, permute_rows, rope_factors
from .tokenizer_meta import tokenizer_metadata
from .writer import GGUFWriter, TensorPlan

QUANTIZE = {
    GGMLType.F32: quants.quantize_f32,
    GGMLType.F16: quants.quantize_f16,
    GGMLType.BF16: quants.quantize_bf16,
    GGMLType.Q8_0: quants.quantize_q8_0,
    GGMLType.Q4_0: quants.quantize_q4_0,
    GGMLType.Q5_0: quants.quantize_q5_0,
    GGMLType.Q4_K: quants.quantize_q4_K,
    GGMLType.Q6_K: quants.quantize_q6_K,
}
CHUNK_VALUES = 1 << 20  # rows are quantized in chunks of about this many values, to bound memory

_LAYER_ORDER = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]


def _tensor_order(name):
    m = re.match(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$", name)
    if m:
        return (1, int(m.group(1)), _LAYER_ORDER.index(m.group(2)), m.group(3))
    return ({"token_embd": 0, "output_norm": 2, "output": 3}[name.split(".")[0]], 0, 0, name)


def _hyperparameters(w, cfg, arch):
    a = arch + "."
    w.add_u32(a + "context_length", cfg.get("max_position_embeddings", 2048))
    w.add_u32(a + "embedding_length", cfg["hidden_size"])
    w.add_u32(a + "block_count", cfg["num_hidden_layers"])
    w.add_u32(a + "feed_forward_length", cfg["intermediate_size"])
    w.add_u32(a + "attention.head_count", cfg["num_attention_heads"])
    w.add_u32(a + "attention.head_count_kv", cfg.get("num_key_value_heads", cfg["num_attention_heads"]))
    w.add_f32(a + "rope.freq_base", float(cfg.get("rope_theta", 10000.0)))
    w.add_f32(a + "attention.layer_norm_rms_epsilon", float(cfg.get("rms_norm_eps", 1e-6)))
    if cfg.get("head_dim") is not None:
        w.add_u32(a + "attention.key_length", cfg["head_dim"])
        w.add_u32(a + "attention.value_length", cfg["head_dim"])
    if arch == "llama":
        w.add_u32(a + "vocab_size", cfg["vocab_size"])
        w.add_u32(a + "rope.dimension_count", head_dim(cfg))
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "linear":
        w.add_string(a + "rope.scaling.type", "linear")
        w.add_f32(a + "rope.scaling.factor", float(rs["factor"]))
    sw = cfg.get("sliding_window")
    uses_window = cfg.get("use_sliding_window", True) if arch == "qwen2" else True
    if isinstance(sw, int) and sw > 0 and uses_window:
        w.add_u32(a + "attention.sliding_window", sw)


def _add_meta(w, meta):
    for key, vtype, value in meta.items:
        if vtype == ValueType.ARRAY:
            w.add_array(key, *value)
        else:
            w.add(key, vtype, value)


def _producer(stored, ggml_type, permute_heads):
    def produce():
        x = stored.load()
        if permute_heads:
            x = permute_rows(x, permute_heads)
        x = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(1, -1)
        step = max(1, CHUNK_VALUES // x.shape[1])
        return np.concatenate([QUANTIZE[ggml_type](x[i:i + step]).reshape(-1) for i in range(0, x.shape[0], step)])
    return produce


def _constant(values):
    return lambda: np.ascontiguousarray(values, dtype="<f4").view(np.uint8)


def plan_tensors(model_dir, cfg, out_type, permute):
    tied = bool(cfg.get("tie_word_embeddings", False))
    stored = list_tensors(model_dir)
    named = {}
    for hf_name, t in stored.items():
        g = gguf_name(hf_name)
        if g is None or (tied and g == "output.weight"):
            continue
        named[g] = t
    if not tied and "output.weight" not in named:
        raise ValueError("lm_head.weight is missing and tie_word_embeddings is false")
    types = TypePlan(out_type, cfg["num_hidden_layers"], tied)
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    plans = []
    for g in sorted(named, key=_tensor_order):
        t = named[g]
        heads = None
        if permute and ".attn_q." in g:
            heads = n_head
        elif permute and ".attn_k." in g:
            heads = n_kv
        ggml_type = types.choose(g, t.shape)
        plans.append(TensorPlan(g, list(reversed(t.shape)), ggml_type, _producer(t, ggml_type, heads)))
    factors = rope_factors(cfg)
    if factors is not None:
        plans.append(TensorPlan("rope_freqs.weight", [factors.size], GGMLType.F32, _constant(factors)))
    return plans, types.file_type


def convert(model_dir, out_path, out_type="f16", name=None, on_tensor=None):
    cfg = read_config(model_dir)
    hf_arch = (cfg.get("architectures") or [None])[0]
    if hf_arch not in ARCHITECTURES:
        raise ValueError("architecture %r is not supported; supported: %s" % (hf_arch, ", ".join(ARCHITECTURES)))
    arch, permute = ARCHITECTURES[hf_arch]
    if cfg.get("hidden_act", "silu") != "silu":
        raise ValueError("hidden_act %r is not supported (only silu)" % cfg.get("hidden_act"))
    plans, file_type = plan_tensors(model_dir, cfg, out_type, permute)

    w = GGUFWriter()
    w.add_string("general.architecture", arch)
    w.add_string("general.type", "model")
    w.add_string("general.name", name or os.path.basename(os.path.normpath(model_dir)))
    _hyperparameters(w, cfg, arch)
    w.add_u32("general.file_type", file_type)
    w.add_u32("general.quantization_version", GGML_QUANT_VERSION)
    _add_meta(w, tokenizer_metadata(model_dir, cfg))
    for p in plans:
        w.add_tensor(p)
    w.write(out_path, on_tensor)
    return plans
