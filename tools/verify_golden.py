#!/usr/bin/python3
"""Independent cross-check of golden.json files: a second, loop-based NumPy float64
implementation of the HF Llama/Qwen2/Mistral forward (written separately from
tools/llama_torch.py) recomputes token_logprobs / last_logprobs / greedy, and the
safetensors files are parsed with a separate minimal reader.  For model dirs with a
tokenizer.json, the "text" of each case is re-encoded with tools/bpe.py.

Run:  /usr/bin/python3 tools/verify_golden.py DIR [DIR...]
      (default: test/fixtures/checkpoints/* models/*; ~1 min for the demo models)
"""
import glob
import json
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    hdr.pop("__metadata__", None)
    out = {}
    for k, info in hdr.items():
        b, e = info["data_offsets"]
        raw = buf[8 + n + b:8 + n + e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, "<f4").astype(np.float64)
        elif dt == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float64)
        elif dt == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            raise ValueError(dt)
        out[k] = a.reshape(info["shape"])
    return out


def load_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        wm = json.load(open(idx))["weight_map"]
        w = {}
        for fn in set(wm.values()):
            w.update(read_st(os.path.join(d, fn)))
        return w
    return read_st(os.path.join(d, "model.safetensors"))


def inv_freqs(cfg, hd):
    base = cfg.get("rope_theta", 10000.0)
    f = [1.0 / base ** (2 * i / hd) for i in range(hd // 2)]
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        fac, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        g = []
        for x in f:
            wl = 2 * math.pi / x
            if wl < old / hi:
                g.append(x)
            elif wl > old / lo:
                g.append(x / fac)
            else:
                s = (old / wl - lo) / (hi - lo)
                g.append((1 - s) * x / fac + s * x)
        f = g
    return np.array(f)


def forward(cfg, w, ids):
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(ids)
    x = w["model.embed_tokens.weight"][ids]
    fr = inv_freqs(cfg, hd)
    ang = np.arange(T)[:, None] * fr[None, :]
    c, s = np.cos(ang), np.sin(ang)

    def norm(v, g):
        return g * (v / np.sqrt((v * v).mean(-1, keepdims=True) + eps))

    def lin(v, name):
        y = v @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        return y

    def rope(v):  # v [T, hd]
        a, b = v[:, : hd // 2], v[:, hd // 2:]
        return np.concatenate([a * c - b * s, b * c + a * s], -1)

    for L in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % L
        h = norm(x, w[p + "input_layernorm.weight"])
        q = lin(h, p + "self_attn.q_proj")
        k = lin(h, p + "self_attn.k_proj")
        v = lin(h, p + "self_attn.v_proj")
        outs = []
        for i in range(H):
            j = i // (H // KV)
            qi = rope(q[:, i * hd:(i + 1) * hd])
            kj = rope(k[:, j * hd:(j + 1) * hd])
            vj = v[:, j * hd:(j + 1) * hd]
            sc = qi @ kj.T / math.sqrt(hd)
            sc = sc + np.triu(np.full((T, T), -np.inf), 1)
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc = sc / sc.sum(-1, keepdims=True)
            outs.append(sc @ vj)
        x = x + lin(np.concatenate(outs, -1), p + "self_attn.o_proj")
        h = norm(x, w[p + "post_attention_layernorm.weight"])
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = norm(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    lg = x @ head.T
    m = lg.max(-1, keepdims=True)
    return lg - m - np.log(np.exp(lg - m).sum(-1, keepdims=True))


def check(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = load_weights(d)
    gold = json.load(open(os.path.join(d, "golden.json")))
    tok = None
    if os.path.exists(os.path.join(d, "tokenizer.json")):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bpe
        tok = bpe.Tokenizer.load(os.path.join(d, "tokenizer.json"))
    worst = 0.0
    for case in gold["cases"]:
        ids = case["input_ids"]
        if tok is not None:
            assert tok.encode(case["text"]) == ids, case["name"]
        lp = forward(cfg, w, ids)
        tl = lp[np.arange(len(ids) - 1), ids[1:]]
        worst = max(worst, np.abs(tl - np.array(case["token_logprobs"])).max(initial=0.0),
                    np.abs(lp[-1] - np.array(case["last_logprobs"])).max())
        seq = list(ids)
        for t in case["greedy"]:
            nxt = int(np.argmax(forward(cfg, w, seq)[-1]))
            assert nxt == t, (d, case["name"], "greedy mismatch")
            seq.append(nxt)
    ok = worst < 5e-6 * 10
    print("%-55s %d cases, max |dlogprob| %.2e %s" % (os.path.relpath(d, ROOT), len(gold["cases"]), worst,
                                                       "OK" if ok else "FAIL"))
    return ok


if __name__ == "__main__":
    dirs = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "test/fixtures/checkpoints/*/"))) + \
        sorted(glob.glob(os.path.join(ROOT, "models/*/")))
    res = [check(d.rstrip("/")) for d in dirs]
    sys.exit(0 if all(res) else 1)
