#!/usr/bin/python3
"""Write a SentencePiece-style (Llama 2 / Mistral) Hugging Face tokenizer derived from a byte-level BPE one,
next to a copy of its model, for testing the GGUF "llama" tokenizer path without downloading a model:

    /usr/bin/python3 tools/make_spm_tokenizer.py [SRC_DIR] OUT_DIR      (SRC_DIR: models/inferline-kjv)

Spaces become "▁"; tokens of printable ASCII bytes stay characters, the other byte tokens become <0xXX>;
merged tokens are the text they spell (a token whose bytes are not whole UTF-8 characters becomes an unused
<unusedN>), and the merges follow. Special and byte tokens keep their ids; the merged tokens' ids are
reversed, so that vocabulary order is not merge order (in the GGUF only the scores give the order; the
weights are copied unchanged, so the model is only good for tokenizer tests). tokenizer.json is laid out as Hugging Face
writes Llama 2's: BPE with byte_fallback, normalizer Prepend("▁") + Replace(" ", "▁"), decoder Replace +
ByteFallback + Fuse + Strip, BOS added by a TemplateProcessing post-processor.
"""
import json
import os
import shutil
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))
SPACE = "\u2581"


def _byte_decoder():
    """GPT-2's bytes_to_unicode, inverted: byte-level character -> byte (as tools/bpe.py encodes)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


BYTE_DECODER = _byte_decoder()


def spm_text(token):
    """Byte-level token -> SentencePiece piece, or None when its bytes are not whole UTF-8 characters."""
    raw = bytes(BYTE_DECODER[c] for c in token)
    if len(raw) == 1 and not (0x20 <= raw[0] < 0x7F):
        return "<0x%02X>" % raw[0]
    try:
        return raw.decode("utf-8").replace(" ", SPACE)
    except UnicodeDecodeError:
        return None


def convert(src):
    specials = {t["id"]: t for t in src["added_tokens"]}
    size = len(src["model"]["vocab"])
    first_merged = len(specials) + 256
    vocab, pieces = {}, {}
    for tok, i in src["model"]["vocab"].items():
        piece = tok if i in specials else spm_text(tok)
        pieces[tok] = piece
        new_id = i if i < first_merged else size - 1 - (i - first_merged)
        vocab[piece if piece is not None else "<unused%d>" % new_id] = new_id
    merges = []
    for m in src["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if pieces.get(a) is not None and pieces.get(b) is not None and pieces.get(a + b) is not None:
            merges.append([pieces[a], pieces[b]])
    bos = src["added_tokens"][0]["content"]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": src["added_tokens"],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {bos: {"id": bos, "ids": [src["added_tokens"][0]["id"]], "tokens": [bos]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def main():
    args = sys.argv[1:]
    src_dir, out = (args[0], args[1]) if len(args) == 2 else (os.path.join(os.path.dirname(TOOLS), "models", "inferline-kjv"), args[0])
    os.makedirs(out, exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copyfile(os.path.join(src_dir, f), os.path.join(out, f))
    with open(os.path.join(src_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = convert(json.load(f))
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(src_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["add_bos_token"] = True
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
