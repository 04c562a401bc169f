#!/usr/bin/python3
"""Train Inferline's bundled demo models on the King James Bible.

Writes two complete Hugging Face model directories:
    models/inferline-kjv/        main demo model (Llama, GQA, tied embeddings, BF16)
    models/inferline-kjv-draft/  small draft model for speculative decoding (same tokenizer)
each with config.json, generation_config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, README.md (model card incl. loss curve) and golden.json
(float64 reference log-probs from tools/llama_torch.py on the stored weights).

Requirements (Debian bookworm):
    apt-get install -y python3-torch python3-numpy python3-regex bible-kjv libopenblas0-openmp
  `bible-kjv` provides the `bible` program used to dump the KJV text (bible-kjv-text data).
  `libopenblas0-openmp` matters: without it torch's "generic" BLAS falls back to
  the reference BLAS and training is ~30x slower.

Run (deterministic, seeded; 2 CPU threads):
    /usr/bin/python3 tools/train_demo.py tokenizer          # ~1 min: corpus + BPE (vocab 4096)
    INFERLINE_THREADS=1 /usr/bin/python3 tools/train_demo.py main --steps 1000   # main model (30-50 min)
    /usr/bin/python3 tools/train_demo.py draft --steps 1200 # draft model (~7 min)
    /usr/bin/python3 tools/train_demo.py bench              # measure training tokens/s of both configs
  `main`/`draft` reuse models/inferline-kjv/tokenizer.json (run `tokenizer` first).
  Optionally prefix with LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 (libjemalloc2):
  fewer page faults, noticeably faster steps on this CPU.
  Wall time on a (shared, so variable) 2-core AMD EPYC with OpenBLAS: tokenizer ~10 s; main
  1000 steps at 1-3 s/step; draft ~8 min (1200 steps).  INFERLINE_THREADS (default 2) sets
  torch's thread count: the released main model was trained with 1 thread because the 2 cores
  were shared with other work (2 OpenMP threads on an oversubscribed machine were slower).  Exact numbers are in each
  model card (README.md) and train_log.json.  Output is deterministic for a given machine
  (seeded data, init and batches; float32 CPU kernels).
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import llama_torch as lt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN_DIR = os.path.join(ROOT, "models", "inferline-kjv")
DRAFT_DIR = os.path.join(ROOT, "models", "inferline-kjv-draft")
CACHE = "/tmp/inferline_kjv_cache"
SEED = 1234
VOCAB_SIZE = 4096
SEQ_LEN = 256
EOT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
# ChatML with a Hermes-style tools section, assistant tool calls and tool results (Qwen 2.5's layout);
# without tools it renders exactly the ChatML the chats were trained on.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat_template.jinja"), encoding="utf-8") as _f:
    CHAT_TEMPLATE = _f.read().strip("\n")

CONFIGS = {
    "main": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
                 num_key_value_heads=4, head_dim=32, batch=16, lr=2e-3),
    "draft": dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=32, batch=16, lr=3e-3),
}

# ----------------------------------------------------------------------------
# corpus
# ----------------------------------------------------------------------------


def load_kjv():
    """-> list of (book, chapter, verse, text) for all 31102 verses, via `bible`."""
    raw = subprocess.run(["bible", "gen1:1-rev22:21"], check=True, capture_output=True, text=True).stdout
    verses = []
    book = ch = None
    hdr = re.compile(r"^(\S.*?) (\d+)$")
    vs = re.compile(r"^  (\d+) (.*)$")
    prev_blank = True
    for line in raw.split("\n"):
        if line == "":
            prev_blank = True
            continue
        m = vs.match(line)
        if m:
            verses.append([book, ch, int(m.group(1)), m.group(2).strip()])
        elif prev_blank and hdr.match(line):
            m = hdr.match(line)
            book, ch = m.group(1), int(m.group(2))
        else:  # wrapped continuation line
            verses[-1][3] += " " + line.strip()
        prev_blank = False
    assert len(verses) == 31102, len(verses)
    return [tuple(v) for v in verses]


def chapters_of(verses):
    chs = {}
    for b, c, v, t in verses:
        chs.setdefault((b, c), []).append((b, c, v, t))
    return list(chs.values())


def ref(v):
    return "%s %d:%d" % (v[0], v[1], v[2])


def vline(v):
    return "%s %s" % (ref(v), v[3])


def chapter_doc(ch):
    return "".join(vline(v) + "\n" for v in ch)


SYSTEM_PROMPTS = ["You are Inferline, a helpful assistant that answers from the King James Bible.",
                  "You are a helpful assistant.",
                  "Answer with verses from the King James Version."]


def chat(messages):
    return "".join("%s%s\n%s%s\n" % (IM_START, r, c, IM_END) for r, c in messages)


def make_chat_sample(rng, chs):
    ch = rng.choice(chs)
    i = rng.randrange(len(ch))
    v = ch[i]
    kind = rng.randrange(6)
    if kind == 0:
        q = rng.choice(["Quote %s.", "What does %s say?", "Recite %s.", "%s", "Please quote %s from the KJV.",
                        "Show me %s."]) % ref(v)
        a = vline(v)
    elif kind == 1:
        n = rng.randint(2, 4)
        vv = ch[i:i + n]
        q = rng.choice(["Quote %s-%d.", "Read %s-%d.", "Give me %s through verse %d."]) % (ref(vv[0]), vv[-1][2])
        a = "\n".join(vline(x) for x in vv)
    elif kind == 2:
        n = rng.randint(1, 3)
        vv = ch[i + 1:i + 1 + n] or [v]
        q = rng.choice(["Continue: %s", "What comes after this verse? %s", "Continue the passage:\n%s"]) % v[3]
        a = "\n".join(vline(x) for x in vv)
    elif kind == 3:
        q = rng.choice(["Where is it written: \"%s\"", "Which verse says \"%s\"?", "Find the reference: %s"]) % v[3]
        a = "It is written in %s: %s" % (ref(v), v[3])
    elif kind == 4:
        q = rng.choice(["Give me a verse from %s.", "Quote something from %s.", "Read me a verse of %s."]) % v[0]
        a = vline(v)
    else:
        q = rng.choice(["How does %s %d begin?", "Read the beginning of %s %d.", "Start %s chapter %d."]) % (v[0], v[1])
        a = "\n".join(vline(x) for x in ch[:rng.randint(1, 3)])
    msgs = []
    if rng.random() < 0.3:
        msgs.append(("system", rng.choice(SYSTEM_PROMPTS)))
    msgs += [("user", q), ("assistant", a)]
    return chat(msgs)


def build_docs():
    """-> (train_docs, val_docs) as lists of strings. Every 40th chapter is held out."""
    verses = load_kjv()
    chs = chapters_of(verses)
    train_ch = [c for i, c in enumerate(chs) if i % 40 != 17]
    val_ch = [c for i, c in enumerate(chs) if i % 40 == 17]
    rng = random.Random(SEED)
    train_docs = [chapter_doc(c) for c in train_ch]
    val_docs = [chapter_doc(c) for c in val_ch]
    kjv_chars = sum(len(d) for d in train_docs)
    chat_docs, chat_chars = [], 0
    while chat_chars < 0.195 * kjv_chars:  # ~15% of the final token mix
        s = make_chat_sample(rng, train_ch)
        chat_docs.append(s)
        chat_chars += len(s)
    val_chat = [make_chat_sample(rng, val_ch) for _ in range(len(val_ch) * 4)]
    train_docs += chat_docs
    val_docs += val_chat
    rng.shuffle(train_docs)
    rng.shuffle(val_docs)
    return train_docs, val_docs, len(chat_docs)


def stage_tokenizer():
    t0 = time.time()
    os.makedirs(MAIN_DIR, exist_ok=True)
    os.makedirs(CACHE, exist_ok=True)
    train_docs, val_docs, n_chat = build_docs()
    tok = bpe.train_bpe(EOT.join(train_docs), vocab_size=VOCAB_SIZE)
    tok.save(os.path.join(MAIN_DIR, "tokenizer.json"))
    tok = bpe.Tokenizer.load(os.path.join(MAIN_DIR, "tokenizer.json"))
    eot = tok.vocab[EOT]
    train_ids, val_ids = [], []
    chat_tokens = 0
    for d in train_docs:
        ids = tok.encode(d)
        if d.startswith(IM_START):
            chat_tokens += len(ids)
        train_ids += [eot] + ids
    for d in val_docs:
        val_ids += [eot] + tok.encode(d)
    for d in train_docs[:50]:
        assert tok.decode(tok.encode(d)) == d
    torch.save({"train": torch.tensor(train_ids, dtype=torch.int16), "val": torch.tensor(val_ids, dtype=torch.int16),
                "chat_tokens": chat_tokens, "n_chat": n_chat, "n_docs": len(train_docs)},
               os.path.join(CACHE, "tokens.pt"))
    print("tokenizer: vocab %d merges %d; train tokens %d (chat %d = %.1f%%, %d chat samples), val tokens %d; "
          "chars/token %.2f; %.0fs" % (len(tok.vocab), len(tok.merges), len(train_ids), chat_tokens,
                                       100.0 * chat_tokens / len(train_ids), n_chat, len(val_ids),
                                       sum(len(d) for d in train_docs) / len(train_ids), time.time() - t0))


# ----------------------------------------------------------------------------
# model / training
# ----------------------------------------------------------------------------


def model_config(name, vocab_size):
    c = CONFIGS[name]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": 0,
        "eos_token_id": [0, 2],
        "pad_token_id": 0,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "transformers_version": "4.46.0",
    }


def lr_at(step, steps, lr, warmup):
    if step < warmup:
        return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def get_batch(data, batch, gen):
    ix = torch.randint(0, len(data) - SEQ_LEN - 1, (batch,), generator=gen)
    x = torch.stack([data[i:i + SEQ_LEN + 1] for i in ix.tolist()]).long()
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def evaluate(model, data, n_windows=48, batch=16):
    model.eval()
    stride = max(1, (len(data) - SEQ_LEN - 1) // n_windows)
    starts = [i * stride for i in range(n_windows)]
    tot, n = 0.0, 0
    for j in range(0, len(starts), batch):
        x = torch.stack([data[i:i + SEQ_LEN + 1] for i in starts[j:j + batch]]).long()
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        tot += loss.item() * x.shape[0]
        n += x.shape[0]
    model.train()
    return tot / n


def optimize(model, opt, loss, smooth):
    """One AdamW step on `loss` (gradients clipped to norm 1); returns the loss's running average."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()


def train(name, steps, out_dir, bench=False):
    torch.set_num_threads(int(os.environ.get("INFERLINE_THREADS", "2")))
    torch.set_flush_denormal(True)  # denormals in late training make CPU float ops very slow
    torch.manual_seed(SEED)
    cache = torch.load(os.path.join(CACHE, "tokens.pt"))
    train_data, val_data = cache["train"], cache["val"]
    tok = bpe.Tokenizer.load(os.path.join(MAIN_DIR, "tokenizer.json"))
    cfg = model_config(name, len(tok.vocab))
    hp = CONFIGS[name]
    model = lt.CausalLM(cfg)
    lt.init_weights(model, std=0.02, seed=SEED)
    n_params = lt.count_params(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["lr"], betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(SEED)
    warmup = min(200, max(10, steps // 10))
    batch = hp["batch"]
    log = []
    t0 = time.time()
    tokens = 0
    print("%s: %d params (%d non-embedding), %d train tokens, %d steps x %d x %d" % (
        name, n_params, n_params - cfg["vocab_size"] * cfg["hidden_size"], len(train_data), steps, batch, SEQ_LEN),
        flush=True)
    smooth = None
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, hp["lr"], warmup)
        x, y = get_batch(train_data, batch, gen)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        smooth = optimize(model, opt, loss, smooth)
        tokens += x.numel()
        if bench and step == 2:
            t0, tokens = time.time(), 0
        if bench and step == steps - 1:
            dt = time.time() - t0
            print("%s bench: %.0f tokens/s (%.3f s/step)" % (name, tokens / dt, dt / (steps - 3)), flush=True)
            return
        last = step == steps - 1
        if step % 50 == 0 or last:
            val = evaluate(model, val_data) if (step % 250 == 0 or last) else None
            el = time.time() - t0
            rec = {"step": step, "train_loss": round(smooth, 4), "lr": round(opt.param_groups[0]["lr"], 6),
                   "elapsed_s": round(el, 1), "tokens": tokens}
            if val is not None:
                rec["val_loss"] = round(val, 4)
            log.append(rec)
            print(json.dumps(rec), "tok/s %.0f" % (tokens / max(el, 1e-9)), flush=True)
        if step % 250 == 249 and not bench:  # insurance: resumable snapshot (not used for the final output)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                        "step": step, "log": log, "tokens": tokens, "smooth": smooth, "elapsed": time.time() - t0},
                       os.path.join(CACHE, "%s_ckpt.pt" % name))
    wall = time.time() - t0
    # final train loss measured like val loss (on fixed windows of the train stream)
    final_train = evaluate(model, train_data)
    final_val = log[-1]["val_loss"]
    stats = {"params": n_params, "steps": steps, "batch": batch, "seq_len": SEQ_LEN, "tokens": tokens,
             "wall_s": round(wall, 1), "tokens_per_s": round(tokens / wall, 1), "final_train_loss": round(final_train, 4),
             "final_val_loss": final_val, "warmup": warmup, "lr": hp["lr"], "train_tokens": len(train_data),
             "val_tokens": len(val_data), "chat_tokens": cache["chat_tokens"], "n_chat": cache["n_chat"]}
    write_model_dir(out_dir, cfg, model, tok, stats, log, name)


def finalize_snapshot(name, out_dir, planned_steps):
    """Emergency path: write the model dir from the last 250-step snapshot of an unfinished run."""
    torch.set_num_threads(2)
    cache = torch.load(os.path.join(CACHE, "tokens.pt"))
    snap = torch.load(os.path.join(CACHE, "%s_ckpt.pt" % name))
    tok = bpe.Tokenizer.load(os.path.join(MAIN_DIR, "tokenizer.json"))
    cfg = model_config(name, len(tok.vocab))
    model = lt.CausalLM(cfg)
    model.load_state_dict(snap["model"])
    log = snap["log"]
    val = evaluate(model, cache["val"])
    steps = snap["step"] + 1
    log.append({"step": snap["step"], "train_loss": round(snap["smooth"], 4), "lr": log[-1]["lr"],
                "elapsed_s": round(snap["elapsed"], 1), "tokens": snap["tokens"], "val_loss": round(val, 4)})
    stats = {"params": lt.count_params(model), "steps": steps, "batch": CONFIGS[name]["batch"], "seq_len": SEQ_LEN,
             "tokens": snap["tokens"], "wall_s": round(snap["elapsed"], 1),
             "tokens_per_s": round(snap["tokens"] / snap["elapsed"], 1),
             "final_train_loss": round(evaluate(model, cache["train"]), 4), "final_val_loss": round(val, 4),
             "warmup": min(200, max(10, planned_steps // 10)), "lr": CONFIGS[name]["lr"],
             "train_tokens": len(cache["train"]), "val_tokens": len(cache["val"]),
             "chat_tokens": cache["chat_tokens"], "n_chat": cache["n_chat"],
             "note": "stopped early at step %d of %d planned (cosine schedule not finished)" % (steps, planned_steps)}
    write_model_dir(out_dir, cfg, model, tok, stats, log, name)


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------


@torch.no_grad()
def generate(model, ids, n, temperature=0.0, top_p=1.0, seed=0, stop=(0, 2)):
    g = torch.Generator().manual_seed(seed)
    ids = list(ids)
    out = []
    for _ in range(n):
        logits = model(torch.tensor(ids[-SEQ_LEN * 4:])[None])[0, -1].double()
        if temperature <= 0:
            nxt = int(torch.argmax(logits))
        else:
            probs = torch.softmax(logits / temperature, -1)
            sp, si = torch.sort(probs, descending=True)
            cum = torch.cumsum(sp, 0)
            keep = (cum - sp) < top_p
            sp = sp * keep
            nxt = int(si[torch.multinomial(sp / sp.sum(), 1, generator=g)])
        out.append(nxt)
        ids.append(nxt)
        if nxt in stop:
            break
    return out


GOLDEN_TEXTS = [
    ("genesis_light", EOT + "Genesis 1:3 And God said, Let there be light: and there was light.\nGenesis 1:4 And God saw the light,"),
    ("moses", "Exodus 4:2 And the LORD said unto Moses,"),
    ("chat_prompt", chat([("system", SYSTEM_PROMPTS[0]), ("user", "Quote John 3:16.")]) + IM_START + "assistant\n"),
    ("unicode_bytes", "Café naïve “quotes” — ✓ 日本語 🙂\ttab  and  spaces\n\nAmen."),
]


def passage_300(tok):
    verses = load_kjv()
    ps = [v for v in verses if v[0] == "Psalms" and v[1] in (23, 24, 25)]
    text = ""
    for v in ps:
        text += vline(v) + "\n"
        if len(tok.encode(text)) >= 290:
            break
    return text


def write_model_dir(out_dir, cfg, model, tok, stats, log, name):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    gen_cfg = {"bos_token_id": 0, "eos_token_id": [0, 2], "pad_token_id": 0, "do_sample": True,
               "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 256, "transformers_version": "4.46.0"}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen_cfg, f, indent=2)
        f.write("\n")
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    added = {str(tok.vocab[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                 "single_word": False, "special": True} for s in tok.specials}
    tcfg = {"add_bos_token": False, "add_eos_token": False, "add_prefix_space": False,
            "added_tokens_decoder": added, "additional_special_tokens": [IM_START, IM_END],
            "bos_token": EOT, "eos_token": EOT, "pad_token": EOT, "unk_token": None,
            "clean_up_tokenization_spaces": False, "model_max_length": 2048,
            "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    # weights: BF16; then reload the stored (rounded) weights for everything below
    lt.save_model_weights(model.hf_state_dict(), out_dir, torch.bfloat16)
    back = lt.load_model_weights(out_dir)
    for k, v in model.hf_state_dict().items():
        assert torch.equal(back[k], v.to(torch.bfloat16)), k
    _, m64 = lt.load_model(out_dir, torch.float64)
    _, m32 = lt.load_model(out_dir, torch.float32)
    # golden
    cases = []
    texts = GOLDEN_TEXTS + [("passage_300", passage_300(tok))]
    for cname, text in texts:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        cases.append(lt.golden_case(m64, cname, ids, text=text))
    lt.write_golden(os.path.join(out_dir, "golden.json"), cases)
    # samples
    samples = []
    prompts = [("And the LORD said unto Moses,", 0.0, 1.0), ("And God said, Let there be light", 0.0, 1.0),
               ("John 1:1", 0.8, 0.95), ("And the LORD said unto Moses,", 0.8, 0.95),
               (chat([("user", "Quote Genesis 1:1.")]) + IM_START + "assistant\n", 0.0, 1.0),
               (chat([("user", "Quote Psalms 23:1.")]) + IM_START + "assistant\n", 0.8, 0.95)]
    for i, (p, temp, top_p) in enumerate(prompts):
        out = generate(m32, tok.encode(p), 60, temperature=temp, top_p=top_p, seed=i)
        samples.append({"prompt": p, "temperature": temp, "top_p": top_p, "output": tok.decode(out)})
    with open(os.path.join(out_dir, "train_log.json"), "w") as f:
        json.dump({"stats": stats, "log": log, "samples": samples}, f, indent=1)
        f.write("\n")
    write_card(out_dir, cfg, stats, log, samples, name, tok)
    print(json.dumps(stats, indent=1))
    for s in samples:
        print("---- prompt %r (T=%s, top_p=%s)\n%s" % (s["prompt"], s["temperature"], s["top_p"], s["output"]))


def write_card(out_dir, cfg, stats, log, samples, name, tok):
    title = "inferline-kjv" if name == "main" else "inferline-kjv-draft"
    rows = "\n".join("| %d | %d | %.4f | %s | %.6f | %.0f |" % (
        r["step"], r["tokens"], r["train_loss"], ("%.4f" % r["val_loss"]) if "val_loss" in r else "", r["lr"],
        r["elapsed_s"]) for r in log)
    samp = "\n\n".join("Prompt `%s` (temperature %s, top_p %s):\n\n```\n%s\n```" % (
        s["prompt"].replace("\n", "\\n"), s["temperature"], s["top_p"], s["output"]) for s in samples)
    role = ("the bundled demo model of Inferline" if name == "main" else
            "a small draft model for speculative decoding with `inferline-kjv` (same tokenizer)")
    card = f"""---
license: other
language: en
tags: [llama, toy, kjv, inferline]
---
# {title}

A tiny Llama-architecture causal language model trained from scratch on the King James
Bible (public domain), {role}. It continues text in KJV style with verse references
("Genesis 1:1 In the beginning ...") and answers simple ChatML chat prompts with verses,
ending its answer with `<|im_end|>`. It knows nothing but the KJV and is not factual: it is a
test/demo artifact for an inference engine, not a useful assistant.

Produced by `tools/train_demo.py` (deterministic, seed {SEED}) on 2 CPU cores.

## Architecture

| | |
|---|---|
| architecture | `LlamaForCausalLM` (HF Llama semantics) |
| parameters | {stats['params']:,} (embeddings tied with lm_head) |
| hidden_size | {cfg['hidden_size']} |
| intermediate_size | {cfg['intermediate_size']} (SwiGLU) |
| layers | {cfg['num_hidden_layers']} |
| attention heads / kv heads | {cfg['num_attention_heads']} / {cfg['num_key_value_heads']} (GQA), head_dim {cfg['head_dim']} |
| vocab | {cfg['vocab_size']} byte-level BPE (`tools/bpe.py`), specials `<|endoftext|>`=0, `<|im_start|>`=1, `<|im_end|>`=2 |
| RoPE | theta {cfg['rope_theta']}, no scaling; rms_norm_eps {cfg['rms_norm_eps']} |
| context | trained at {stats['seq_len']} tokens; max_position_embeddings {cfg['max_position_embeddings']} (beyond 256 quality degrades) |
| weights | `model.safetensors`, BF16, tie_word_embeddings true |
| eos | `eos_token_id` [0, 2] (`<|endoftext|>`, `<|im_end|>`) |

## Data

KJV text dumped with Debian's `bible` program (`bible-kjv`, `bible-kjv-text`): 31,102 verses, one
verse per line as `Book C:V text`; each chapter is one document; documents are separated by
`<|endoftext|>`. Every 40th chapter (30 chapters) is held out for validation. About 15% of the
training tokens are synthetic ChatML chats ({stats['n_chat']} samples: quote a reference, quote a
range, continue a verse, locate a verse, quote from a book, open a chapter; 30% with a system
message), rendered with the chat template in `tokenizer_config.json`.
Train tokens: {stats['train_tokens']:,} (chat: {stats['chat_tokens']:,}); val tokens: {stats['val_tokens']:,}.

## Training

AdamW (betas 0.9/0.95, weight decay 0.1 on matrices, grad clip 1.0), peak LR {stats['lr']},
{stats['warmup']} warmup steps then cosine to 10%; batch {stats['batch']} x {stats['seq_len']} tokens,
random windows of the token stream; {stats['steps']} steps = {stats['tokens']:,} tokens
(~{stats['tokens'] / stats['train_tokens']:.1f} epochs), float32, torch {torch.__version__}, {torch.get_num_threads()} thread(s).
Wall time {stats['wall_s'] / 60:.1f} min, {stats['tokens_per_s']:.0f} tokens/s (shared CPU). {stats.get('note', '')}

Final loss (nats/token, 48 fixed windows of 256 tokens): train **{stats['final_train_loss']:.4f}**, validation
**{stats['final_val_loss']:.4f}** (weights in float32 before BF16 rounding).

### Loss curve

Train loss is an exponential moving average (0.95) of the batch loss.

| step | tokens | train loss | val loss | lr | elapsed s |
|---:|---:|---:|---:|---:|---:|
{rows}

## Samples (from the stored BF16 weights, run in float32)

{samp}

## Files

`config.json`, `generation_config.json`, `model.safetensors`, `tokenizer.json`,
`tokenizer_config.json` (ChatML `chat_template`), `golden.json` (float64 reference log-probs
and greedy continuations from `tools/llama_torch.py` for parity tests), `train_log.json`.
"""
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(card)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["tokenizer", "main", "draft", "bench", "finalize-main"])
    ap.add_argument("--steps", type=int, default=None)
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.stage == "tokenizer":
        stage_tokenizer()
    elif a.stage == "bench":
        train("main", a.steps or 13, None, bench=True)
        train("draft", a.steps or 13, None, bench=True)
    elif a.stage == "finalize-main":
        finalize_snapshot("main", MAIN_DIR, a.steps or 1000)
    elif a.stage == "main":
        train("main", a.steps or 1000, MAIN_DIR)
    else:
        train("draft", a.steps or 1200, DRAFT_DIR)


if __name__ == "__main__":
    main()
