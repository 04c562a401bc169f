#!/usr/bin/python3
"""Golden files for the GGUF parity tests: for each GGUF type, the float64 reference (tools/llama_torch.py)
run on the DEQUANTIZED weights of the file tools/hf_to_gguf.py writes.

    /usr/bin/python3 tools/make_gguf_goldens.py [inferline-kjv] [smollm2-shaped]
                                        (writes test/fixtures/gguf/<name>.json; ~10 min on one core)

Checkpoints: models/inferline-kjv (cases from its golden.json), and the SmolLM2-shaped random checkpoint of
tools/make_random_checkpoint.py (2 layers, vocab 1024; seeded prompts). The GGUF files are not committed:
the tests write them again and check them against the sha256 recorded here (the quantizers are
deterministic), then compare Inferline's prompt log-probs and greedy tokens with these.

Per type: gguf_sha256, the ggml type of every tensor, the sha256 of every dequantized tensor in Hugging
Face layout (float32 little-endian, after un-permuting attn_q/attn_k), and per case token_logprobs (n-1),
greedy (argmax tokens appended one by one: 24 for prompts under 100 tokens, 8 otherwise; the reference has
no KV cache) and margins (top-1 minus top-2 logit at each greedy step).
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import llama_torch as lt  # noqa: E402
from gguflib.constants import TYPE_INFO  # noqa: E402
from gguflib.layout import OUTPUT_TYPES  # noqa: E402
from gguflib.reader import GGUFReader  # noqa: E402
from gguflib.to_hf import hf_state_dict  # noqa: E402

OUT = os.path.join(ROOT, "test", "fixtures", "gguf")
TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q4_k", "q6_k", "q4_k_m"]
N_GREEDY = 24
RANDOM_ARGS = ["--layers", "2", "--vocab", "1024", "--seed", "1"]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_from(cfg, state):
    model = lt.CausalLM(cfg).to(torch.float64)
    sd = model.state_dict()
    assert set(sd) == set(state), set(sd) ^ set(state)
    with torch.no_grad():
        for k, p in sd.items():
            p.copy_(torch.from_numpy(state[k]).to(torch.float64))
    model.eval()
    return model


@torch.no_grad()
def case(model, name, ids):
    t = torch.tensor(ids, dtype=torch.long)
    lp = torch.log_softmax(model(t[None])[0].to(torch.float64), dim=-1)
    token_lp = lp[:-1].gather(1, t[1:, None])[:, 0]
    seq, greedy, margins = list(ids), [], []
    logits = model(torch.tensor(seq)[None])[0, -1]
    for _ in range(N_GREEDY if len(ids) < 100 else 8):
        top = torch.topk(logits, 2)
        greedy.append(int(top.indices[0]))
        margins.append(lt.r7(top.values[0] - top.values[1]))
        seq.append(greedy[-1])
        logits = model(torch.tensor(seq)[None])[0, -1]
    return {"name": name, "input_ids": list(ids), "token_logprobs": [lt.r7(v) for v in token_lp.tolist()],
            "greedy": greedy, "margins": margins}


def golden_for_type(model_dir, cfg, cases, out_type, tmp):
    path = os.path.join(tmp, "model-%s.gguf" % out_type)
    subprocess.run([sys.executable, os.path.join(TOOLS, "hf_to_gguf.py"), model_dir, path, "--type", out_type, "--quiet"], check=True)
    reader = GGUFReader(path)
    state = hf_state_dict(reader)
    model = model_from(cfg, state)
    return {
        "gguf_sha256": sha256_file(path),
        "tensor_types": {n: TYPE_INFO[t.ggml_type][0] for n, t in reader.tensors.items()},
        "dequantized_sha256": {k: hashlib.sha256(np.ascontiguousarray(v, dtype="<f4").tobytes()).hexdigest() for k, v in sorted(state.items())},
        "cases": [case(model, name, ids) for name, ids in cases],
    }


def write(name, source, model_dir, cases, extra):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    golden = {"reference": "tools/llama_torch.py float64 on the dequantized GGUF weights", "checkpoint": source, **extra, "types": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for t in TYPES:
            assert t in OUTPUT_TYPES
            golden["types"][t] = golden_for_type(model_dir, cfg, cases, t, tmp)
            print(name, t, "ok", flush=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    kjv = os.path.join(ROOT, "models", "inferline-kjv")
    with open(os.path.join(kjv, "golden.json")) as f:
        kjv_cases = [(c["name"], c["input_ids"]) for c in json.load(f)["cases"]]
    if not only or "inferline-kjv" in only:
        write("inferline-kjv", "models/inferline-kjv", kjv, kjv_cases, {})
    if only and "smollm2-shaped" not in only:
        return

    with tempfile.TemporaryDirectory() as parent:
        tmp = os.path.join(parent, "smollm2-shaped")  # the directory's name is the GGUF's general.name, as in the tests
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_random_checkpoint.py"), tmp, *RANDOM_ARGS], check=True)
        rng = np.random.default_rng(7)
        cases = [(n, [int(i) for i in rng.integers(0, 1024, size=k)]) for n, k in (("short", 7), ("medium", 33), ("long", 130))]
        extra = {"generator": "tools/make_random_checkpoint.py " + " ".join(RANDOM_ARGS),
                 "safetensors_sha256": sha256_file(os.path.join(tmp, "model.safetensors"))}
        write("smollm2-shaped", "generated", tmp, cases, extra)


if __name__ == "__main__":
    main()
