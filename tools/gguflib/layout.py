"""How llama.cpp lays a Hugging Face Llama-family checkpoint out in GGUF: architecture names, hyperparameter
keys, tensor names, the q/k row permutation, and which ggml type each tensor gets (llama-quant.cpp's rules).
"""
import math
import re

import numpy as np

from .constants import QK_K, TYPE_INFO, FileType, GGMLType

# Hugging Face architecture -> GGUF general.architecture, and whether llama.cpp permutes q/k rows for it
ARCHITECTURES = {
    "LlamaForCausalLM": ("llama", True),
    "MistralForCausalLM": ("llama", True),  # llama.cpp converts Mistral as "llama"
    "Qwen2ForCausalLM": ("qwen2", False),   # qwen2 uses NEOX-style rope in llama.cpp: no permutation
}

# per-layer tensor names: Hugging Face suffix -> GGUF suffix
LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
GLOBAL_TENSORS = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
IGNORED_TENSORS = re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")
_LAYER_NAME = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")

# --type: the ggml type of the 2-D weights, and general.file_type
OUTPUT_TYPES = {
    "f32": (GGMLType.F32, FileType.ALL_F32),
    "f16": (GGMLType.F16, FileType.MOSTLY_F16),
    "bf16": (GGMLType.BF16, FileType.MOSTLY_BF16),
    "q8_0": (GGMLType.Q8_0, FileType.MOSTLY_Q8_0),
    "q4_0": (GGMLType.Q4_0, FileType.MOSTLY_Q4_0),
    "q5_0": (GGMLType.Q5_0, FileType.MOSTLY_Q5_0),
    "q4_k": (GGMLType.Q4_K, FileType.MOSTLY_Q4_K_S),
    "q6_k": (GGMLType.Q6_K, FileType.MOSTLY_Q6_K),
    "q4_k_m": (GGMLType.Q4_K, FileType.MOSTLY_Q4_K_M),
}


def gguf_name(hf_name):
    """Hugging Face tensor name -> GGUF name, or None for tensors llama.cpp drops."""
    if IGNORED_TENSORS.match(hf_name):
        return None
    m = _LAYER_NAME.match(hf_name)
    if m:
        layer, part, kind = m.groups()
        if part in LAYER_TENSORS:
            return "blk.%s.%s.%s" % (layer, LAYER_TENSORS[part], kind)
    else:
        base, _, kind = hf_name.rpartition(".")
        if base in GLOBAL_TENSORS and kind in ("weight", "bias"):
            return "%s.%s" % (GLOBAL_TENSORS[base], kind)
    raise ValueError("tensor %r has no GGUF name in the llama layout" % hf_name)


def permute_rows(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: within each head, the rotate-half row order
    (x_0..x_{d/2-1}, y_0..y_{d/2-1}) becomes interleaved pairs (x_0, y_0, x_1, y_1, ...) for llama.cpp's rope."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rows(w, n_head):
    """Inverse of permute_rows."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def rope_factors(cfg):
    """Llama 3 rope scaling as llama.cpp stores it: a rope_freqs tensor of per-frequency divisors, computed
    as convert_hf_to_gguf.py does (float32 frequencies), or None. original_max_position_embeddings is taken
    from rope_scaling, where Hugging Face configs keep it."""
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return None
    dim = head_dim(cfg)
    base = float(cfg.get("rope_theta", 10000.0))
    freqs = (1.0 / (np.float32(base) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))).astype(np.float32)
    factor = rs.get("factor", 8.0)
    low, high = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old_ctx = rs.get("original_max_position_embeddings", cfg.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / float(f)
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------
# tensor types
# ---------------------------------------------------------------------------------------------------------

def _use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(ggml_type, n_cols):
    """llama-quant.cpp's tensor_type_fallback: a type whose block fits the row, else F16."""
    block = TYPE_INFO[ggml_type][1]
    if n_cols % block == 0:
        return ggml_type
    nxt = {GGMLType.Q4_K: GGMLType.Q5_0, GGMLType.Q6_K: GGMLType.Q8_0}.get(ggml_type, GGMLType.F16)
    return nxt if n_cols % TYPE_INFO[nxt][1] == 0 else GGMLType.F16


class TypePlan:
    """Chooses each tensor's ggml type for one --type, as llama.cpp would."""

    def __init__(self, out_type, n_layers, tied):
        self.base, self.file_type = OUTPUT_TYPES[out_type]
        self.mix = out_type == "q4_k_m"
        self.n_layers = n_layers
        self.tied = tied
        self.attn_v_seen = 0

    def choose(self, name, shape):
        """name: GGUF name; shape: row-major shape (rows, cols)."""
        if len(shape) < 2 or name.startswith("rope_freqs") or name.endswith("_norm.weight"):
            return GGMLType.F32
        n_cols = shape[-1]
        t = self.base
        if self.mix:
            t = self._mixed(name, n_cols)
        return _fallback(t, n_cols)

    def _mixed(self, name, n_cols):
        # llama_tensor_get_type_impl for LLAMA_FTYPE_MOSTLY_Q4_K_M (no imatrix, not pure)
        if name == "output.weight" or (self.tied and name == "token_embd.weight"):
            return GGMLType.Q8_0 if n_cols % QK_K != 0 else GGMLType.Q6_K
        if ".attn_v." in name:
            i = self.attn_v_seen
            self.attn_v_seen += 1
            return GGMLType.Q6_K if _use_more_bits(i, self.n_layers) else GGMLType.Q4_K
        if ".ffn_down." in name:
            layer = int(name.split(".")[1])
            return GGMLType.Q6_K if _use_more_bits(layer, self.n_layers) else GGMLType.Q4_K
        return GGMLType.Q4_K
