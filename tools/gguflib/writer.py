"""GGUF v3 writer: metadata and tensor infos first, then tensor data streamed one tensor at a time.

Layout (gguf.h): magic, version, tensor count, metadata count, metadata, tensor infos, padding to the
alignment, data. ggml requires each tensor's offset to be the running total of the previous tensors'
sizes, each padded to the alignment; that is what this writes.
"""
import struct

from .constants import GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, SCALAR_FORMAT, ValueType, row_bytes


def _pad(n, align):
    return (n + align - 1) // align * align


def _string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


class TensorPlan:
    """A tensor to be written: name, GGUF dims (ne[0] = columns first), ggml type and a data producer."""

    def __init__(self, name, dims, ggml_type, produce):
        self.name = name
        self.dims = list(dims)
        self.ggml_type = ggml_type
        self.produce = produce  # () -> bytes-like of exactly nbytes
        rows = 1
        for d in self.dims[1:]:
            rows *= d
        self.nbytes = row_bytes(ggml_type, self.dims[0]) * rows


class GGUFWriter:
    def __init__(self, alignment=GGUF_DEFAULT_ALIGNMENT):
        self.alignment = alignment
        self.kv = []  # (key, value type, value bytes)
        self.tensors = []

    # -- metadata -------------------------------------------------------------------------------------------
    def add(self, key, vtype, value):
        if vtype == ValueType.STRING:
            payload = _string(value)
        else:
            payload = struct.pack(SCALAR_FORMAT[vtype], value)
        self.kv.append((key, vtype, payload))

    def add_array(self, key, item_type, values):
        if item_type == ValueType.STRING:
            body = b"".join(_string(v) for v in values)
        else:
            fmt = SCALAR_FORMAT[item_type]
            body = struct.pack("<%d%s" % (len(values), fmt[1]), *values)
        self.kv.append((key, ValueType.ARRAY, struct.pack("<IQ", item_type, len(values)) + body))

    def add_string(self, key, value):
        self.add(key, ValueType.STRING, value)

    def add_u32(self, key, value):
        self.add(key, ValueType.UINT32, value)

    def add_f32(self, key, value):
        self.add(key, ValueType.FLOAT32, value)

    # -- tensors --------------------------------------------------------------------------------------------
    def add_tensor(self, plan):
        if any(t.name == plan.name for t in self.tensors):
            raise ValueError("duplicate tensor name %r" % plan.name)
        self.tensors.append(plan)

    def write(self, path, on_tensor=None):
        header = bytearray()
        header += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, vtype, payload in self.kv:
            header += _string(key) + struct.pack("<I", vtype) + payload
        offset = 0
        for t in self.tensors:
            header += _string(t.name) + struct.pack("<I", len(t.dims))
            header += struct.pack("<%dq" % len(t.dims), *t.dims)
            header += struct.pack("<IQ", t.ggml_type, offset)
            offset += _pad(t.nbytes, self.alignment)
        header += b"\0" * (_pad(len(header), self.alignment) - len(header))
        with open(path, "wb") as f:
            f.write(header)
            for t in self.tensors:
                data = memoryview(t.produce()).cast("B")
                if len(data) != t.nbytes:
                    raise AssertionError("tensor %s: produced %d bytes, planned %d" % (t.name, len(data), t.nbytes))
                f.write(data)
                f.write(b"\0" * (_pad(t.nbytes, self.alignment) - t.nbytes))
                if on_tensor is not None:
                    on_tensor(t)
