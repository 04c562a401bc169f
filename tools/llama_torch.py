#!/usr/bin/python3
"""From-scratch PyTorch reference of the Hugging Face Llama-family forward pass
(LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM), plus a minimal
safetensors writer/reader and golden-file helpers.

Used by tools/train_demo.py and tools/make_test_checkpoints.py; no HF packages
are needed (none are installed here).

Semantics follow transformers' modeling_llama.py / modeling_qwen2.py:
  * RMSNorm:   w * x * rsqrt(mean(x^2, -1) + eps)
  * RoPE:      HF "rotate half" layout, inv_freq = 1/theta^(arange(0,d,2)/d),
               emb = cat(freqs, freqs); q' = q*cos + rotate_half(q)*sin.
               rope_scaling {"rope_type": "llama3", ...} exactly as
               transformers' _compute_llama3_parameters.
               (inv_freq / cos / sin are computed in float64 and cast to the
               compute dtype; HF computes them in float32.  The difference is
               ~1e-7 relative and irrelevant for float32 parity tests.)
  * head_dim override (config["head_dim"] may differ from hidden/heads)
  * GQA/MQA: query head h uses kv head h // (heads // kv_heads) (HF repeat_kv)
  * causal softmax attention, scale 1/sqrt(head_dim)
  * optional q/k/v bias (attention_bias for llama/mistral; always for qwen2),
    o_proj never has a bias (llama attention_bias also adds o bias: supported)
  * SwiGLU MLP down(silu(gate(x)) * up(x)); final norm; lm_head or tied embeddings
  * sliding_window is not implemented (must be null or >= sequence length).

Self-test (takes a few seconds):
    /usr/bin/python3 tools/llama_torch.py
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------


def cfg_head_dim(cfg):
    hd = cfg.get("head_dim")
    if hd is None:
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    return hd


def has_qkv_bias(cfg):
    if cfg.get("model_type") == "qwen2":
        return True
    return bool(cfg.get("attention_bias", False))


def has_o_bias(cfg):
    if cfg.get("model_type") == "qwen2":
        return False
    return bool(cfg.get("attention_bias", False))


def compute_inv_freq(cfg):
    """float64 inv_freq including HF rope_scaling (llama3 / linear / default)."""
    dim = cfg_head_dim(cfg)
    base = float(cfg.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float64) / dim))
    rs = cfg.get("rope_scaling")
    if rs:
        rtype = rs.get("rope_type", rs.get("type", "default"))
        if rtype == "llama3":
            factor = float(rs["factor"])
            low_freq_factor = float(rs["low_freq_factor"])
            high_freq_factor = float(rs["high_freq_factor"])
            old_context_len = float(rs["original_max_position_embeddings"])
            low_freq_wavelen = old_context_len / low_freq_factor
            high_freq_wavelen = old_context_len / high_freq_factor
            wavelen = 2 * math.pi / inv_freq
            inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
            smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
            is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
            inv_freq = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
        elif rtype == "linear":
            inv_freq = inv_freq / float(rs["factor"])
        elif rtype == "default":
            pass
        else:
            raise NotImplementedError("rope_scaling type %r" % rtype)
    return inv_freq


def rope_cos_sin(cfg, seq_len, dtype, offset=0):
    inv_freq = compute_inv_freq(cfg)
    pos = torch.arange(offset, offset + seq_len, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg_head_dim(cfg)
        b = has_qkv_bias(cfg)
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=b)
        self.k_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=b)
        self.v_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=b)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=has_o_bias(cfg))

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.n_heads // self.n_kv
        if rep > 1:
            k = k[:, :, None].expand(B, self.n_kv, rep, T, self.head_dim).reshape(B, self.n_heads, T, self.head_dim)
            v = v[:, :, None].expand(B, self.n_kv, rep, T, self.head_dim).reshape(B, self.n_heads, T, self.head_dim)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        att = att.masked_fill(mask, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        assert cfg.get("hidden_act", "silu") == "silu"
        mb = bool(cfg.get("mlp_bias", False))
        self.gate_proj = nn.Linear(h, i, bias=mb)
        self.up_proj = nn.Linear(h, i, bias=mb)
        self.down_proj = nn.Linear(i, h, bias=mb)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg.get("rms_norm_eps", 1e-6))


class CausalLM(nn.Module):
    """state_dict() keys are exactly the HF tensor names."""

    def __init__(self, cfg):
        super().__init__()
        sw = cfg.get("sliding_window")
        if sw is not None and cfg.get("model_type") == "qwen2" and not cfg.get("use_sliding_window", False):
            sw = None
        self.sliding_window = sw
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def forward(self, input_ids):
        """input_ids: LongTensor [B, T] -> logits [B, T, V] in the parameter dtype."""
        if input_ids.dim() == 1:
            input_ids = input_ids[None]
        B, T = input_ids.shape
        if self.sliding_window is not None and T > self.sliding_window:
            raise NotImplementedError("sliding window attention not implemented")
        dtype = self.model.embed_tokens.weight.dtype
        x = self.model.embed_tokens(input_ids)
        cos, sin = rope_cos_sin(self.cfg, T, dtype)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ w.t()

    def hf_state_dict(self):
        return {k: v.detach() for k, v in self.state_dict().items()}


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def init_weights(model, std=0.02, seed=None):
    """GPT-2 style init: N(0, std) for linear/embedding, zero biases, ones for
    norms, residual output projections scaled by 1/sqrt(2*n_layers)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    n_layers = len(model.model.layers)
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                s = std
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    s = std / math.sqrt(2 * n_layers)
                p.copy_(torch.randn(p.shape, generator=g) * s)


# ----------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------

_DT_TO_ST = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
_ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def save_safetensors(tensors, path, metadata=None):
    """tensors: dict name -> torch tensor (already in the wanted dtype).
    Written in sorted-name order."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        b = _tensor_bytes(t)
        header[name] = {"dtype": _DT_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return off


def load_safetensors(path):
    """-> (dict name -> torch tensor in its stored dtype, metadata)"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    npdt = {"F32": "<f4", "F16": "<f2", "BF16": "<i2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
    expect = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == expect, "non-contiguous data in %s" % path
        expect = e
        dt = info["dtype"]
        numel = int(np.prod(info["shape"])) if info["shape"] else 1
        assert e - b == numel * _ST_SIZE[dt], name
        arr = np.frombuffer(data, dtype=npdt[dt], count=numel, offset=base + b).copy().reshape(info["shape"])
        t = torch.from_numpy(arr)
        if dt == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t
    assert base + expect == len(data), "trailing bytes in %s" % path
    return out, meta


def save_model_weights(state, out_dir, dtype, n_shards=1):
    """Write HF weights (single model.safetensors or sharded + index)."""
    state = {k: v.to(dtype) for k, v in state.items()}
    if n_shards <= 1:
        save_safetensors(state, os.path.join(out_dir, "model.safetensors"))
        return ["model.safetensors"]
    names = sorted(state)
    total = sum(state[k].numel() * state[k].element_size() for k in names)
    shards, cur, cur_size = [], [], 0
    target = total / n_shards
    for k in names:
        sz = state[k].numel() * state[k].element_size()
        if cur and cur_size + sz > target and len(shards) < n_shards - 1:
            shards.append(cur)
            cur, cur_size = [], 0
        cur.append(k)
        cur_size += sz
    shards.append(cur)
    n = len(shards)
    files, weight_map = [], {}
    for i, ks in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        save_safetensors({k: state[k] for k in ks}, os.path.join(out_dir, fn))
        files.append(fn)
        for k in ks:
            weight_map[k] = fn
    index = {"metadata": {"total_size": total}, "weight_map": {k: weight_map[k] for k in sorted(weight_map)}}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return files + ["model.safetensors.index.json"]


def load_model_weights(model_dir):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            index = json.load(f)
        out = {}
        for fn in sorted(set(index["weight_map"].values())):
            t, _ = load_safetensors(os.path.join(model_dir, fn))
            for k in t:
                assert index["weight_map"][k] == fn
            out.update(t)
        assert set(out) == set(index["weight_map"])
        return out
    return load_safetensors(os.path.join(model_dir, "model.safetensors"))[0]


def load_model(model_dir, dtype=torch.float64):
    """Load an HF model dir into CausalLM, casting the stored weights to dtype."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model = CausalLM(cfg)
    w = load_model_weights(model_dir)
    sd = model.state_dict()
    assert set(w) == set(sd), (set(w) ^ set(sd))
    model.load_state_dict({k: v.to(torch.float32) for k, v in w.items()})
    model = model.to(dtype)
    with torch.no_grad():  # cast stored values directly (exact for f16/bf16/f32 -> f64)
        for k, p in model.state_dict().items():
            p.copy_(w[k].to(dtype))
    model.eval()
    return cfg, model


# ----------------------------------------------------------------------------
# golden files
# ----------------------------------------------------------------------------


def r7(x):
    """round to 7 significant digits"""
    x = float(x)
    if x == float("-inf") or x == float("inf") or x != x:
        raise ValueError("non-finite value in golden output")
    return float("%.7g" % x)


@torch.no_grad()
def golden_case(model, name, input_ids, text=None, n_greedy=16):
    ids = torch.tensor(input_ids, dtype=torch.long)
    logits = model(ids[None])[0].to(torch.float64)
    lp = torch.log_softmax(logits, dim=-1)
    tok_lp = lp[:-1].gather(1, ids[1:, None])[:, 0]
    case = {"name": name}
    if text is not None:
        case["text"] = text
    case["input_ids"] = [int(i) for i in input_ids]
    case["token_logprobs"] = [r7(v) for v in tok_lp.tolist()]
    case["last_logprobs"] = [r7(v) for v in lp[-1].tolist()]
    seq = list(input_ids)
    greedy = []
    nxt = int(torch.argmax(logits[-1]))
    for i in range(n_greedy):
        greedy.append(nxt)
        seq.append(nxt)
        if i + 1 < n_greedy:
            lg = model(torch.tensor(seq, dtype=torch.long)[None])[0, -1]
            nxt = int(torch.argmax(lg))
    case["greedy"] = greedy
    return case


def write_golden(path, cases):
    obj = {"reference": "tools/llama_torch.py float64", "cases": cases}
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


# ----------------------------------------------------------------------------
# self test
# ----------------------------------------------------------------------------

if __name__ == "__main__":
    import tempfile
    torch.manual_seed(0)
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 100,
           "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}
    m = CausalLM(cfg)
    init_weights(m, seed=1)
    ids = torch.randint(0, 100, (2, 40))
    out = m(ids)
    assert out.shape == (2, 40, 100)
    # causality: changing a later token must not change earlier logits
    ids2 = ids.clone(); ids2[:, 30] = (ids2[:, 30] + 1) % 100
    assert torch.allclose(m(ids2)[:, :30], out[:, :30], atol=1e-6)
    with tempfile.TemporaryDirectory() as d:
        for dt in (torch.float32, torch.float16, torch.bfloat16):
            for shards in (1, 3):
                for fn in os.listdir(d):
                    os.remove(os.path.join(d, fn))
                save_model_weights(m.hf_state_dict(), d, dt, shards)
                back = load_model_weights(d)
                for k, v in m.hf_state_dict().items():
                    assert back[k].dtype == dt and torch.equal(back[k], v.to(dt)), (k, dt)
    print("llama_torch self-test OK; inv_freq (llama3):", compute_inv_freq(cfg)[:4].tolist())
