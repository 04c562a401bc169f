#!/usr/bin/python3
"""Byte-level BPE (GPT-2 style) trainer + encoder/decoder in pure Python, writing
a Hugging Face `tokenizer.json` (loadable by HF `tokenizers` and the JS
`@huggingface/tokenizers`).

  * GPT-2 bytes_to_unicode byte mapping, GPT-2 pre-tokenizer regex
    (needs Debian `python3-regex`).
  * Special tokens (ids 0,1,2): <|endoftext|>, <|im_start|>, <|im_end|>;
    then the 256 byte tokens (id 3 + byte value); then merges in rank order.
  * Special tokens are split out of the text before pre-tokenization (as HF does
    for added tokens); merges are applied lowest-rank-first inside each
    pre-token, which is exactly what HF's BPE model produces.

Usage:
    from bpe import train_bpe, Tokenizer
    tok = train_bpe(text, vocab_size=4096)      # ~30-60 s for the KJV corpus
    tok.save("tokenizer.json"); tok = Tokenizer.load("tokenizer.json")
    ids = tok.encode(s); s == tok.decode(ids)

Self-test:  /usr/bin/python3 tools/bpe.py   (a few seconds)
"""
import collections
import json

import regex

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PAT = regex.compile(GPT2_PATTERN)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {v: k for k, v in BYTE_ENCODER.items()}


def pretokenize(text):
    """GPT-2 regex split, each piece mapped to byte-level unicode chars."""
    return ["".join(BYTE_ENCODER[b] for b in p.encode("utf-8")) for p in _PAT.findall(text)]


def _split_special(text, specials):
    if not specials:
        return [(False, text)]
    pat = regex.compile("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))
    out, pos = [], 0
    for m in pat.finditer(text):
        if m.start() > pos:
            out.append((False, text[pos:m.start()]))
        out.append((True, m.group(0)))
        pos = m.end()
    if pos < len(text):
        out.append((False, text[pos:]))
    return out


class Tokenizer:
    def __init__(self, vocab, merges, specials=SPECIAL_TOKENS):
        self.vocab = dict(vocab)  # token -> id (includes specials)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.specials = list(specials)
        self._special_re = regex.compile("|".join(regex.escape(s) for s in sorted(self.specials, key=len, reverse=True)))
        self.cache = {}

    # --- encoding -----------------------------------------------------------
    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        ranks = self.ranks
        while len(syms) > 1:
            best, best_rank = None, None
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (syms[i], syms[i + 1]), r
            if best is None:
                break
            a, b = best
            out, i = [], 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        ids = [self.vocab[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        pos = 0
        for m in self._special_re.finditer(text):
            if m.start() > pos:
                for w in pretokenize(text[pos:m.start()]):
                    ids.extend(self.bpe(w))
            ids.append(self.vocab[m.group(0)])
            pos = m.end()
        if pos < len(text):
            for w in pretokenize(text[pos:]):
                ids.extend(self.bpe(w))
        return ids

    def decode(self, ids, skip_special_tokens=False):
        out = []
        buf = []
        for i in ids:
            t = self.id_to_token[int(i)]
            if t in self.specials:
                if buf:
                    out.append(bytes(buf).decode("utf-8", errors="replace"))
                    buf = []
                if not skip_special_tokens:
                    out.append(t)
            else:
                buf.extend(BYTE_DECODER[c] for c in t)
        if buf:
            out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    # --- HF tokenizer.json --------------------------------------------------
    def to_hf_json(self):
        added = [{"id": self.vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for s in self.specials]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": {t: i for t, i in sorted(self.vocab.items(), key=lambda kv: kv[1])},
                "merges": ["%s %s" % m for m in self.merges],
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        specials = [a["content"] for a in sorted(j["added_tokens"], key=lambda a: a["id"])]
        return cls(j["model"]["vocab"], merges, specials)


def apply_merge(words, counts, pair_counts, where, pair, new, touched=None):
    """Merges `pair` into `new` in every word holding it (left to right), keeping the pair counts and the
    pair -> words index current; pairs whose count changed are added to `touched` when given."""
    a, b = pair
    for wi in list(where.get(pair, ())):
        syms, c = words[wi], counts[wi]
        for p in zip(syms, syms[1:]):
            pair_counts[p] -= c
            if pair_counts[p] <= 0:
                del pair_counts[p]
            where[p].discard(wi)
            if touched is not None:
                touched.add(p)
        out, i = [], 0
        while i < len(syms):
            if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                out.append(new)
                i += 2
            else:
                out.append(syms[i])
                i += 1
        words[wi] = out
        for p in zip(out, out[1:]):
            pair_counts[p] += c
            where[p].add(wi)
            if touched is not None:
                touched.add(p)
    pair_counts.pop(pair, None)
    where.pop(pair, None)


def train_bpe(text, vocab_size=4096, specials=SPECIAL_TOKENS, verbose=True):
    """Train on unique pre-token counts. Deterministic: highest pair count wins,
    ties broken by the lexicographically smallest (left, right) pair."""
    word_counts = collections.Counter()
    for is_special, seg in _split_special(text, specials):
        if not is_special:
            word_counts.update(pretokenize(seg))
    vocab = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab[BYTE_ENCODER[b]] = len(vocab)
    words = [list(w) for w in word_counts]
    counts = [word_counts[w] for w in word_counts]
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)  # pair -> set of word indices
    for wi, syms in enumerate(words):
        c = counts[wi]
        for a, b in zip(syms, syms[1:]):
            pair_counts[(a, b)] += c
            where[(a, b)].add(wi)
    merges = []
    while len(vocab) < vocab_size and pair_counts:
        best = min(pair_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        (a, b), cnt = best
        if cnt <= 0:
            break
        merges.append((a, b))
        new = a + b
        if new not in vocab:
            vocab[new] = len(vocab)
        apply_merge(words, counts, pair_counts, where, (a, b), new)
        if verbose and len(merges) % 500 == 0:
            print("  bpe merges: %d, vocab %d, last %r count %d" % (len(merges), len(vocab), new, cnt), flush=True)
    return Tokenizer(vocab, merges, specials)


if __name__ == "__main__":
    import os
    import tempfile
    sample = ("In the beginning God created the heaven and the earth. And God said, Let there be light: "
              "and there was light. 1 2 33 444 it's we've I'm they'll he'd  \n\n  tabs\t\there  end   ") * 20
    tok = train_bpe(sample + " héllo wörld ✓ 日本語", vocab_size=400, verbose=False)
    tests = [sample[:300], "<|im_start|>user\nhello<|im_end|>\n<|endoftext|>x", "héllo ✓ 日本語 🙂 unseen-words!!",
             "", "   ", "a<|endoftext|><|endoftext|>b"]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "tokenizer.json")
        tok.save(p)
        tok2 = Tokenizer.load(p)
    for t in tests:
        ids = tok2.encode(t)
        assert ids == tok.encode(t)
        assert tok2.decode(ids) == t, (t, tok2.decode(ids))
    assert tok.encode("<|endoftext|>") == [0]
    print("bpe self-test OK, vocab", len(tok.vocab), "merges", len(tok.merges))
