#!/usr/bin/env python3
"""A 49,152-token byte-level BPE tokenizer.json for benchmarks on the SmolLM2-135M shape.

No SmolLM2 tokenizer is available offline, so this trains one of the same kind and size: GPT-2 byte-level
BPE (tools/bpe.py's pre-tokenizer, byte map and special tokens <|endoftext|>, <|im_start|>, <|im_end|>),
49,152 tokens, on a mix of English prose and code like SmolLM2's own corpus:
  * the King James Bible (Debian bible-kjv / bible-kjv-text, dumped with `bible`),
  * Python 3 standard library sources (/usr/lib/python3.*; code, JSON and dict literals),
  * plain-text documentation under /usr/share/doc (changelogs, READMEs, copyright files).
Training is tools/bpe.py's algorithm (highest pair count first, ties by the smallest pair) with a heap
instead of a scan per merge, so 48,893 merges take minutes rather than hours.

    python3 tools/bpe_bench_vocab.py OUT_DIR [--max-mb 24]

Writes OUT_DIR/tokenizer.json and OUT_DIR/corpus-stats.json (sources and sizes).
"""
import collections
import glob
import gzip
import heapq
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import BYTE_ENCODER, SPECIAL_TOKENS, Tokenizer, apply_merge, pretokenize  # noqa: E402

VOCAB_SIZE = 49152


def corpus(max_bytes):
    parts, stats = [], {}
    kjv = subprocess.run(["bible", "gen1:1-rev22:21"], check=True, capture_output=True, text=True).stdout
    parts.append(kjv)
    stats["kjv"] = len(kjv)
    budget = (max_bytes - len(kjv)) // 2
    code, size = [], 0
    for path in sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True)):
        if size >= budget:
            break
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        code.append(text)
        size += len(text)
    parts.append("\n".join(code))
    stats["python_stdlib"] = size
    docs, size = [], 0
    for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
        if size >= budget:
            break
        if not os.path.isfile(path) or os.path.getsize(path) > 2_000_000:
            continue
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
            text = raw.decode("utf-8")
        except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile):
            continue
        if "\x00" in text:
            continue
        docs.append(text)
        size += len(text)
    parts.append("\n".join(docs))
    stats["usr_share_doc"] = size
    return "\n".join(parts), stats


def train(text, vocab_size):
    word_counts = collections.Counter(pretokenize(text))
    vocab = {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocab[BYTE_ENCODER[b]] = len(vocab)
    words = [list(w) for w in word_counts]
    counts = [word_counts[w] for w in word_counts]
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for wi, syms in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pair_counts[(a, b)] += counts[wi]
            where[(a, b)].add(wi)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg or -neg <= 0:
            continue  # stale entry
        a, b = pair
        merges.append(pair)
        new = a + b
        if new not in vocab:
            vocab[new] = len(vocab)
        touched = set()
        apply_merge(words, counts, pair_counts, where, pair, new, touched)
        for p in touched:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pair_counts:
                del pair_counts[p]
        if len(merges) % 2000 == 0:
            print("  merges %d, vocab %d" % (len(merges), len(vocab)), flush=True)
    return Tokenizer(vocab, merges, SPECIAL_TOKENS)


if __name__ == "__main__":
    out_dir = sys.argv[1]
    max_mb = float(sys.argv[sys.argv.index("--max-mb") + 1]) if "--max-mb" in sys.argv else 24
    text, stats = corpus(int(max_mb * 2**20))
    print("corpus", stats, flush=True)
    tok = train(text, VOCAB_SIZE)
    assert len(tok.vocab) == VOCAB_SIZE, len(tok.vocab)
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "corpus-stats.json"), "w") as f:
        json.dump({"vocab_size": VOCAB_SIZE, "merges": len(tok.merges), "sources_chars": stats}, f, indent=2)
    print("wrote", out_dir, flush=True)
