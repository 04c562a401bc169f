#!/usr/bin/python3
"""Write small, randomly initialised (seeded) Hugging Face checkpoints for
Inferline's parity tests into test/fixtures/checkpoints/:

  llama-gqa-untied-f32/   LlamaForCausalLM, 8 heads / 2 kv heads (GQA), head_dim derived (64/8 = 8,
                          no "head_dim" key in config.json), untied lm_head, F32, weights sharded in two
                          files + model.safetensors.index.json
  qwen2-bias-tied-bf16/   Qwen2ForCausalLM, non-zero q/k/v biases (no o bias), tied embeddings,
                          4 heads / 1 kv head (MQA), head_dim 16 (derived), BF16, rope_theta 1e6,
                          sliding_window 4096 with use_sliding_window false (as real Qwen2 configs)
  llama3-rope-f16/        LlamaForCausalLM, rope_scaling llama3 (factor 8, low 1, high 4,
                          original_max_position_embeddings 64), rope_theta 5e5, head_dim 32 override
                          (4 heads * 32 = 128 != hidden 64), 2 kv heads, F16, max_position_embeddings 1024
  mistral-f32/            MistralForCausalLM, sliding_window null, 4 heads / 2 kv heads, explicit
                          head_dim 16, untied, F32

All: vocab 512, hidden 64, 2 layers, SwiGLU.  Each directory has config.json, weights,
generation_config.json and golden.json (float64 reference from tools/llama_torch.py computed
on the stored, already-rounded weights; "greedy" appends the argmax token 16 times and ignores
EOS).  Input ids are seeded random ints in [0, 512).

Weights are scaled so the logits are not flat: embeddings N(0, 0.3) (RMSNorm makes their scale
irrelevant for the layers), q/k N(0, 1.5/sqrt(in)) for non-uniform attention, other matrices
N(0, 1/sqrt(in)), norm weights 1 + N(0, 0.1), biases N(0, 0.2).

Run:  /usr/bin/python3 tools/make_test_checkpoints.py     (~10 s, deterministic)
"""
import json
import math
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_torch as lt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "checkpoints")

BASE = {"vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2, "hidden_act": "silu",
        "initializer_range": 0.02, "use_cache": True, "attention_dropout": 0.0, "bos_token_id": 1,
        "eos_token_id": 2, "transformers_version": "4.46.0"}

CHECKPOINTS = [
    ("llama-gqa-untied-f32", torch.float32, 2, 11, dict(
        architectures=["LlamaForCausalLM"], model_type="llama", intermediate_size=176,
        num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-5,
        rope_theta=10000.0, rope_scaling=None, attention_bias=False, mlp_bias=False,
        tie_word_embeddings=False, torch_dtype="float32")),
    ("qwen2-bias-tied-bf16", torch.bfloat16, 1, 22, dict(
        architectures=["Qwen2ForCausalLM"], model_type="qwen2", intermediate_size=160,
        num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=4096, max_window_layers=2,
        rms_norm_eps=1e-6, rope_theta=1000000.0, rope_scaling=None, sliding_window=4096,
        use_sliding_window=False, tie_word_embeddings=True, torch_dtype="bfloat16")),
    ("llama3-rope-f16", torch.float16, 1, 33, dict(
        architectures=["LlamaForCausalLM"], model_type="llama", intermediate_size=128,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
        rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64},
        attention_bias=False, mlp_bias=False, tie_word_embeddings=False, torch_dtype="float16")),
    ("mistral-f32", torch.float32, 1, 44, dict(
        architectures=["MistralForCausalLM"], model_type="mistral", intermediate_size=192,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
        rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=None, tie_word_embeddings=False,
        torch_dtype="float32")),
]

CASE_LENGTHS = [("single_token", 1), ("short", 7), ("medium", 33), ("long", 130), ("long_200", 200)]


def init_random(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name in ("model.embed_tokens.weight", "lm_head.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[1]
                s = 1.5 if (".q_proj." in name or ".k_proj." in name) else 1.0
                p.copy_(s / math.sqrt(fan_in) * torch.randn(p.shape, generator=g))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name, dtype, shards, seed, extra in CHECKPOINTS:
        cfg = dict(BASE)
        cfg.update(extra)
        d = os.path.join(OUT, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        model = lt.CausalLM(cfg)
        init_random(model, seed)
        if name.startswith("qwen2"):
            assert all(model.model.layers[i].self_attn.o_proj.bias is None for i in range(2))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 1, "eos_token_id": 2, "do_sample": False,
                       "transformers_version": "4.46.0"}, f, indent=2)
            f.write("\n")
        files = lt.save_model_weights(model.hf_state_dict(), d, dtype, shards)
        back = lt.load_model_weights(d)
        for k, v in model.hf_state_dict().items():
            assert back[k].dtype == dtype and torch.equal(back[k], v.to(dtype)), k
        _, m64 = lt.load_model(d, torch.float64)
        g = torch.Generator().manual_seed(seed * 1000 + 7)
        cases = []
        min_gap = float("inf")
        for cname, n in CASE_LENGTHS:
            ids = torch.randint(0, cfg["vocab_size"], (n,), generator=g).tolist()
            case = lt.golden_case(m64, cname, ids)
            cases.append(case)
            # report the smallest top1-top2 logprob gap along the greedy path (argmax robustness)
            seq = list(ids)
            with torch.no_grad():
                for t in case["greedy"]:
                    lg = m64(torch.tensor(seq)[None])[0, -1]
                    top = torch.topk(lg, 2).values
                    min_gap = min(min_gap, float(top[0] - top[1]))
                    seq.append(t)
        lt.write_golden(os.path.join(d, "golden.json"), cases)
        lp = torch.tensor(cases[3]["last_logprobs"])
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print("%-22s params %6d  files %s  dir %.0f KB  last-logprob std %.2f max p %.3f  min greedy gap %.4f" % (
            name, lt.count_params(model), files, size / 1024, lp.std().item(), lp.exp().max().item(), min_gap))


if __name__ == "__main__":
    main()
