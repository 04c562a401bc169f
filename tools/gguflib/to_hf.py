"""GGUF -> Hugging Face layout: tensor names back, attn_q/attn_k rows un-permuted, values dequantized."""
from .layout import GLOBAL_TENSORS, LAYER_TENSORS, unpermute_rows

_GLOBAL_BACK = {v: k for k, v in GLOBAL_TENSORS.items()}
_LAYER_BACK = {v: k for k, v in LAYER_TENSORS.items()}


def hf_name(name):
    """GGUF tensor name -> Hugging Face name, or None for tensors without one (rope_freqs)."""
    parts = name.split(".")
    if parts[0] == "blk":
        return "model.layers.%s.%s.%s" % (parts[1], _LAYER_BACK[parts[2]], parts[3])
    if parts[0] == "rope_freqs":
        return None
    return "%s.%s" % (_GLOBAL_BACK[parts[0]], parts[1])


def hf_state_dict(reader):
    """{Hugging Face name: float32 array}; q/k rows un-permuted for the llama architecture."""
    meta = reader.metadata
    arch = meta["general.architecture"]
    n_head = meta[arch + ".attention.head_count"]
    n_kv = meta.get(arch + ".attention.head_count_kv", n_head)
    out = {}
    for name in reader.tensors:
        hf = hf_name(name)
        if hf is None:
            continue
        x = reader.dequantize(name)
        if arch == "llama" and ".attn_q." in name:
            x = unpermute_rows(x, n_head)
        elif arch == "llama" and ".attn_k." in name:
            x = unpermute_rows(x, n_kv)
        out[hf] = x
    return out
