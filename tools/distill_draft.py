#!/usr/bin/python3
"""Distill the bundled draft model (models/inferline-kjv-draft) from the main model (models/inferline-kjv),
so that its next-token choices agree with the target's: speculative decoding accepts a draft token only
where the target would have produced it, and the draft trained on text alone agreed on ~43% of them.

    /usr/bin/python3 tools/distill_draft.py prompts OUT_PROMPTS.json [--n 1536] [--seed 1234]
    node tools/draft-rollouts.ts OUT_PROMPTS.json ROLLOUTS.json          # the target's greedy continuations
    /usr/bin/python3 tools/distill_draft.py train ROLLOUTS.json [--steps 800]

The bundled draft: `prompts --n 1536` (seed 1234), `train --steps 600`; then `prompts --n 3072 --seed 2`,
`train --steps 600` again (each run continues from the weights the last one wrote; the card lists both).
A third run (`--seed 3`, `--lr 5e-4 --kjv-every 4`: rollouts-heavy) raised held-out agreement 0.863 ->
0.873 but lowered bench/spec-decode.ts's acceptance (K=2 76% -> 73%): it was not kept.

`prompts` takes random 8-32-token windows of the KJV training stream (the bundled tokenizer; chapters the
main model held out for validation are left out, and so are the verses bench/spec-decode.ts opens with).
`train` starts from the current draft weights and minimizes KL(target || draft) over the whole
vocabulary at every position, on two kinds of windows in turn: KJV text (the data both were trained on)
and the target's own greedy rollouts (the contexts speculative decoding meets). It writes the model
directory as tools/train_demo.py does (BF16 weights, golden.json from the float64 reference, model card)
and prints the greedy agreement (the share of positions where both argmaxes match) on held-out rollouts.
Deterministic for a machine (seeded).
"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import llama_torch as lt  # noqa: E402
import train_demo as td  # noqa: E402

# The openings bench/spec-decode.ts measures the draft model on: no prompt window may contain them.
BENCH_OPENINGS = ["Let there be light", "The LORD is my shepherd", "In the beginning was the Word", "Blessed are the poor in spirit"]
WINDOW = 256


def tokenizer():
    return bpe.Tokenizer.load(os.path.join(td.MAIN_DIR, "tokenizer.json"))


def kjv_tokens(tok):
    """train_demo's training and validation streams (documents joined by <|endoftext|>), with this tokenizer."""
    path = os.path.join(td.CACHE, "distill_tokens.pt")
    if os.path.exists(path):
        return torch.load(path)
    train_docs, val_docs, _ = td.build_docs()
    eot = tok.vocab[td.EOT]

    def stream(docs):
        ids = []
        for d in docs:
            ids += [eot] + tok.encode(d)
        return torch.tensor(ids, dtype=torch.int16)
    t = {"train": stream(train_docs), "val": stream(val_docs)}
    os.makedirs(td.CACHE, exist_ok=True)
    torch.save(t, path)
    return t


def stage_prompts(out, n, seed):
    tok = tokenizer()
    data = kjv_tokens(tok)["train"]
    rng = random.Random(seed)
    prompts = []
    while len(prompts) < n:
        length = rng.randint(8, 32)
        at = rng.randrange(0, len(data) - length)
        ids = data[at:at + length].long().tolist()
        text = tok.decode(ids)
        if any(o in text for o in BENCH_OPENINGS) or 0 in ids[1:]:
            continue
        prompts.append(ids)
    with open(out, "w") as f:
        json.dump(prompts, f)
    print("wrote %d prompts to %s" % (len(prompts), out))


def rollout_windows(rollouts):
    """Each rollout (prompt + continuation) as one window, padded by repeating its start to WINDOW + 1."""
    rows = []
    for r in rollouts:
        seq = (r * (WINDOW // len(r) + 2))[:WINDOW + 1]
        rows.append(seq)
    return torch.tensor(rows, dtype=torch.long)


def kd_loss(draft_logits, target_logits):
    """Mean over positions of KL(target || draft), full vocabulary, temperature 1."""
    t = torch.log_softmax(target_logits, dim=-1)
    d = torch.log_softmax(draft_logits, dim=-1)
    return (t.exp() * (t - d)).sum(-1).mean()


@torch.no_grad()
def agreement(draft, target, windows, limit):
    """Share of positions 8..(prompt + continuation) where the draft's argmax is the target's."""
    draft.eval()
    same = total = 0
    for i in range(0, len(windows), 16):
        x = windows[i:i + 16, :limit]
        a = draft(x).argmax(-1)[:, 8:]
        b = target(x).argmax(-1)[:, 8:]
        same += (a == b).sum().item()
        total += a.numel()
    draft.train()
    return same / total


def stage_train(rollouts_file, steps, lr, kjv_every):
    torch.set_num_threads(int(os.environ.get("INFERLINE_THREADS", "2")))
    torch.set_flush_denormal(True)
    torch.manual_seed(td.SEED)
    tok = tokenizer()
    streams = kjv_tokens(tok)
    data = streams["train"]
    with open(rollouts_file) as f:
        rollouts = json.load(f)
    limit = max(len(r) for r in rollouts)
    windows = rollout_windows(rollouts)
    held_out = windows[: len(windows) // 8]
    train_rollouts = windows[len(windows) // 8:]
    _, target = lt.load_model(td.MAIN_DIR, torch.float32)
    target.eval()
    cfg, draft = lt.load_model(td.DRAFT_DIR, torch.float32)
    draft.train()
    print("agreement before: %.3f on %d held-out rollouts" % (agreement(draft, target, held_out, limit), len(held_out)), flush=True)
    # (the step-0 record below measures it again, for the card)
    decay = [p for _, p in draft.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in draft.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(td.SEED)
    batch = 16
    log = []
    t0 = time.time()
    tokens = 0
    smooth = None
    warmup = max(10, steps // 20)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = td.lr_at(step, steps, lr, warmup)
        if step % kjv_every == 0:
            x, _ = td.get_batch(data, batch, gen)
        else:
            ix = torch.randint(0, len(train_rollouts), (batch,), generator=gen)
            x = train_rollouts[ix, :WINDOW]
        with torch.no_grad():
            t_logits = target(x)
        smooth = td.optimize(draft, opt, kd_loss(draft(x), t_logits), smooth)
        tokens += x.numel()
        if step % 50 == 0 or step == steps - 1:
            rec = {"step": step, "kd_loss": round(smooth, 4), "lr": round(opt.param_groups[0]["lr"], 6), "elapsed_s": round(time.time() - t0, 1)}
            if step % 200 == 0 or step == steps - 1:
                rec["agreement"] = round(agreement(draft, target, held_out, limit), 4)
            log.append(rec)
            print(json.dumps(rec), flush=True)
    wall = time.time() - t0
    final_agreement = agreement(draft, target, held_out, limit)
    print("agreement after: %.3f" % final_agreement, flush=True)
    # The card keeps the pretraining record and says what distillation changed.
    with open(os.path.join(td.DRAFT_DIR, "train_log.json")) as f:
        pre = json.load(f)
    stats = dict(pre["stats"])
    before = log[0].get("agreement")
    # Each run continues from the weights the last one wrote: the runs are listed in order.
    runs = stats.get("distillation", []) + [{
        "tool": "tools/distill_draft.py", "teacher": "models/inferline-kjv", "steps": steps, "batch": batch, "window": WINDOW,
        "tokens": tokens, "wall_s": round(wall, 1), "peak_lr": lr, "kjv_every": kjv_every, "rollouts": len(train_rollouts),
        "greedy_agreement_held_out": {"before": before, "after": round(final_agreement, 4)}, "log": log}]
    stats.update({
        "final_train_loss": round(td.evaluate(draft, data), 4), "final_val_loss": round(td.evaluate(draft, streams["val"]), 4),
        "distillation": runs,
        "note": ("Then distilled from inferline-kjv (tools/distill_draft.py, %s: KL(target || draft) over the whole "
                 "vocabulary, alternating KJV windows and the target's greedy rollouts): greedy agreement with the "
                 "target on held-out rollouts %s. The losses below are the distilled model's." % (
                     " then ".join("%d steps on %d rollouts" % (r["steps"], r["rollouts"]) for r in runs),
                     " -> ".join(["%.3f" % runs[0]["greedy_agreement_held_out"]["before"]] + ["%.3f" % r["greedy_agreement_held_out"]["after"] for r in runs]))),
    })
    td.write_model_dir(td.DRAFT_DIR, cfg, draft, tok, stats, pre["log"], "draft")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["prompts", "train"])
    ap.add_argument("file")
    ap.add_argument("--n", type=int, default=1536)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--lr", type=float, default=1e-3, help="train: peak learning rate")
    ap.add_argument("--kjv-every", type=int, default=2, help="train: every Nth batch is KJV text, the others rollouts")
    ap.add_argument("--seed", type=int, default=td.SEED, help="prompts: a later run takes another seed, so its held-out rollouts are new")
    a = ap.parse_args()
    if a.stage == "prompts":
        stage_prompts(a.file, a.n, a.seed)
    else:
        stage_train(a.file, a.steps, a.lr, a.kjv_every)


if __name__ == "__main__":
    main()
