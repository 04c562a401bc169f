"""Tokenizer metadata (tokenizer.ggml.*, tokenizer.chat_template) from a Hugging Face tokenizer.json and
tokenizer_config.json, as llama.cpp's converter writes it:

  * byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): tokenizer.ggml.model "gpt2", tokens in the byte-level
    alphabet, merges, and tokenizer.ggml.pre naming the pre-tokenizer regex llama.cpp should use;
  * SentencePiece-style BPE with byte fallback (Llama 2, Mistral): tokenizer.ggml.model "llama", tokens with
    "▁" for spaces, <0xXX> byte tokens and scores. The scores make llama.cpp's SentencePiece merge order
    (highest score first) equal the merge ranks: a token formed by the merge of rank r scores -r.
"""
import json
import os

from .constants import TokenType, ValueType

# tokenizer.json Split regexes of the byte-level pre-tokenizers llama.cpp knows by name
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SUPPORTED_PRE = "gpt-2 (ByteLevel with its regex), llama-bpe, qwen2, smollm"

SPECIAL_TOKEN_KEYS = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}


class Meta:
    """Collects (key, type, value) metadata in order; arrays are (key, ARRAY, (item type, values))."""

    def __init__(self):
        self.items = []

    def put(self, key, vtype, value):
        self.items.append((key, vtype, value))

    def put_array(self, key, item_type, values):
        self.items.append((key, ValueType.ARRAY, (item_type, list(values))))


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _token_content(v):
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def _is_byte_level(pre):
    return pre.get("type") == "ByteLevel"


def byte_level_pre(tok_json):
    """llama.cpp's tokenizer.ggml.pre for a byte-level BPE tokenizer.json."""
    pre = tok_json.get("pre_tokenizer") or {}
    if _is_byte_level(pre) and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        return "gpt-2"
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers", [])
        if len(steps) == 2 and _is_byte_level(steps[1]):
            first, last = steps
            regex = (first.get("pattern") or {}).get("Regex")
            if first.get("type") == "Split" and not last.get("use_regex", True):
                if regex == LLAMA3_REGEX:
                    return "llama-bpe"
                if regex == QWEN2_REGEX:
                    return "qwen2"
            if first.get("type") == "Digits" and first.get("individual_digits") and last.get("use_regex", True):
                return "smollm"
    raise ValueError("pre-tokenizer %s is not one llama.cpp knows by name; supported: %s"
                     % (json.dumps(pre)[:200], SUPPORTED_PRE))


def _merges(model):
    out = []
    for m in model.get("merges", []):
        out.append(m if isinstance(m, str) else " ".join(m))
    return out


def _added(tok_json):
    return {t["id"]: t for t in tok_json.get("added_tokens", [])}


def _vocab_list(tok_json, vocab_size):
    """Token strings by id, with [PAD{i}] for ids the tokenizer does not use (as get_vocab_base)."""
    by_id = {i: s for s, i in tok_json["model"]["vocab"].items()}
    for i, t in _added(tok_json).items():
        by_id[i] = t["content"]
    if max(by_id) >= vocab_size:
        raise ValueError("tokenizer has id %d but the model's vocab_size is %d" % (max(by_id), vocab_size))
    return [by_id.get(i) for i in range(vocab_size)]


def _gpt2_vocab(meta, tok_json, vocab_size):
    added = _added(tok_json)
    tokens, types = [], []
    for i, s in enumerate(_vocab_list(tok_json, vocab_size)):
        if s is None:
            tokens.append("[PAD%d]" % i)
            types.append(TokenType.UNUSED)
        elif i in added:
            tokens.append(s)
            types.append(TokenType.CONTROL if added[i].get("special") else TokenType.USER_DEFINED)
        else:
            tokens.append(s)
            types.append(TokenType.NORMAL)
    meta.put("tokenizer.ggml.model", ValueType.STRING, "gpt2")
    meta.put("tokenizer.ggml.pre", ValueType.STRING, byte_level_pre(tok_json))
    meta.put_array("tokenizer.ggml.tokens", ValueType.STRING, tokens)
    meta.put_array("tokenizer.ggml.token_type", ValueType.INT32, types)
    meta.put_array("tokenizer.ggml.merges", ValueType.STRING, _merges(tok_json["model"]))


def _spm_scores(tok_json, tokens):
    """score(token) = -(rank of the first merge that forms it); tokens no merge forms score 0."""
    rank = {}
    for r, m in enumerate(_merges(tok_json["model"])):
        left, right = m.split(" ", 1)
        rank.setdefault(left + right, r)
    return [-float(rank[t]) if t in rank else 0.0 for t in tokens]


def _adds_space_prefix(tok_json):
    norm = tok_json.get("normalizer") or {}
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    if any(s.get("type") == "Prepend" and s.get("prepend") == "\u2581" for s in steps):
        return True
    pre = tok_json.get("pre_tokenizer") or {}
    return pre.get("type") == "Metaspace" and pre.get("prepend_scheme", "always") != "never"


def _spm_vocab(meta, tok_json, vocab_size):
    model = tok_json["model"]
    added = _added(tok_json)
    unk = model.get("unk_token")
    tokens, types = [], []
    for i, s in enumerate(_vocab_list(tok_json, vocab_size)):
        if s is None:
            tokens.append("[PAD%d]" % i)
            types.append(TokenType.UNUSED)
            continue
        tokens.append(s)
        if s == unk:
            types.append(TokenType.UNKNOWN)
        elif i in added:
            types.append(TokenType.CONTROL if added[i].get("special") else TokenType.USER_DEFINED)
        elif len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    meta.put("tokenizer.ggml.model", ValueType.STRING, "llama")
    meta.put_array("tokenizer.ggml.tokens", ValueType.STRING, tokens)
    meta.put_array("tokenizer.ggml.scores", ValueType.FLOAT32, _spm_scores(tok_json, tokens))
    meta.put_array("tokenizer.ggml.token_type", ValueType.INT32, types)
    meta.put("tokenizer.ggml.add_space_prefix", ValueType.BOOL, _adds_space_prefix(tok_json))


def _token_id(tok_json, content):
    for t in tok_json.get("added_tokens", []):
        if t["content"] == content:
            return t["id"]
    return tok_json["model"]["vocab"].get(content)


def _post_processor_adds_bos(tok_json):
    pp = tok_json.get("post_processor") or {}
    steps = pp.get("processors", []) if pp.get("type") == "Sequence" else [pp]
    for s in steps:
        if s.get("type") == "TemplateProcessing":
            single = s.get("single", [])
            return bool(single) and "SpecialToken" in single[0]
    return None


def _special_tokens(meta, tok_json, tok_cfg, model_cfg):
    for typ, key in SPECIAL_TOKEN_KEYS.items():
        content = _token_content(tok_cfg.get(typ + "_token"))
        tid = _token_id(tok_json, content) if content is not None else None
        if tid is None and isinstance(model_cfg.get(typ + "_token_id"), int):
            tid = model_cfg[typ + "_token_id"]
        if tid is not None:
            meta.put("tokenizer.ggml." + key, ValueType.UINT32, tid)
    add_bos = tok_cfg.get("add_bos_token")
    if add_bos is None:
        add_bos = _post_processor_adds_bos(tok_json)
    if add_bos is not None:
        meta.put("tokenizer.ggml.add_bos_token", ValueType.BOOL, bool(add_bos))
    if tok_cfg.get("add_eos_token") is not None:
        meta.put("tokenizer.ggml.add_eos_token", ValueType.BOOL, bool(tok_cfg["add_eos_token"]))


def _chat_templates(meta, model_dir, tok_cfg):
    jinja = os.path.join(model_dir, "chat_template.jinja")
    if os.path.exists(jinja):
        with open(jinja, encoding="utf-8") as f:
            meta.put("tokenizer.chat_template", ValueType.STRING, f.read())
        return
    tpl = tok_cfg.get("chat_template")
    if isinstance(tpl, str):
        meta.put("tokenizer.chat_template", ValueType.STRING, tpl)
    elif isinstance(tpl, list):
        for t in tpl:
            name = t.get("name")
            key = "tokenizer.chat_template" if name == "default" else "tokenizer.chat_template." + name
            meta.put(key, ValueType.STRING, t["template"])


def tokenizer_metadata(model_dir, model_cfg):
    """Metadata for the model directory's tokenizer, or an empty Meta when it has none."""
    meta = Meta()
    tok_file = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(tok_file):
        return meta
    tok_json = _read_json(tok_file)
    cfg_file = os.path.join(model_dir, "tokenizer_config.json")
    tok_cfg = _read_json(cfg_file) if os.path.exists(cfg_file) else {}
    model = tok_json.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError("tokenizer model %r is not supported (supported: BPE)" % model.get("type"))
    vocab_size = model_cfg["vocab_size"]
    if model.get("byte_fallback"):
        _spm_vocab(meta, tok_json, vocab_size)
    else:
        _gpt2_vocab(meta, tok_json, vocab_size)
    _special_tokens(meta, tok_json, tok_cfg, model_cfg)
    _chat_templates(meta, model_dir, tok_cfg)
    return meta
