"""Hugging Face checkpoint directory reading with NumPy: config.json and safetensors (single file or shards),
one tensor at a time."""
import json
import os
import struct

import numpy as np

from .quants import bf16_value

_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}


class StoredTensor:
    def __init__(self, name, path, dtype, shape, offset, nbytes):
        self.name, self.path, self.dtype, self.shape, self.offset, self.nbytes = name, path, dtype, tuple(shape), offset, nbytes

    def load(self):
        """The tensor as float32 (exact: every stored dtype widens losslessly)."""
        np_dtype, size = _DTYPES[self.dtype]
        count = self.nbytes // size
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            raw = np.fromfile(f, dtype=np_dtype, count=count)
        if raw.size != count:
            raise ValueError("%s: tensor %s is truncated" % (self.path, self.name))
        values = bf16_value(raw) if self.dtype == "BF16" else raw.astype(np.float32)
        return values.reshape(self.shape)


def _read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    header.pop("__metadata__", None)
    out = []
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError("%s: tensor %s has dtype %s; supported: F32, F16, BF16" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        out.append(StoredTensor(name, path, info["dtype"], info["shape"], 8 + n + begin, end - begin))
    return out


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def list_tensors(model_dir):
    """name -> StoredTensor for model.safetensors or the shards model.safetensors.index.json names."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        files = [single]
    elif os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            files = sorted({os.path.join(model_dir, v) for v in json.load(f)["weight_map"].values()})
    else:
        raise FileNotFoundError("%s: no model.safetensors or model.safetensors.index.json" % model_dir)
    return {t.name: t for path in files for t in _read_header(path)}


def write_safetensors(path, tensors, dtype):
    """Writes {name: float32 array} as one .safetensors file in dtype F32, F16 or BF16 (names sorted)."""
    from .quants import bf16_bits, f16_bits

    encode = {"F32": lambda a: np.ascontiguousarray(a, dtype="<f4"),
              "F16": lambda a: f16_bits(a).astype("<u2"),
              "BF16": lambda a: bf16_bits(a).astype("<u2")}[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = encode(tensors[name]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
