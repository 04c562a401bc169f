"""GGUF v3 reader for the tools (golden files, inspection); tensors are read one at a time."""
import struct

from . import quants
from .constants import GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, SCALAR_FORMAT, GGMLType, ValueType, row_bytes

DEQUANTIZE = {
    GGMLType.F32: quants.dequantize_f32,
    GGMLType.F16: quants.dequantize_f16,
    GGMLType.BF16: quants.dequantize_bf16,
    GGMLType.Q8_0: quants.dequantize_q8_0,
    GGMLType.Q4_0: quants.dequantize_q4_0,
    GGMLType.Q5_0: quants.dequantize_q5_0,
    GGMLType.Q4_K: quants.dequantize_q4_K,
    GGMLType.Q6_K: quants.dequantize_q6_K,
}


class _Cursor:
    def __init__(self, f):
        self.f = f

    def take(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise ValueError("unexpected end of file")
        return b

    def scalar(self, vtype):
        fmt = SCALAR_FORMAT[vtype]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        (n,) = struct.unpack("<Q", self.take(8))
        return self.take(n).decode("utf-8")

    def value(self, vtype):
        if vtype == ValueType.STRING:
            return self.string()
        if vtype == ValueType.ARRAY:
            item, count = struct.unpack("<IQ", self.take(12))
            return [self.value(item) for _ in range(count)]
        return self.scalar(vtype)


class GGUFTensor:
    def __init__(self, name, dims, ggml_type, offset):
        self.name = name
        self.dims = dims
        self.ggml_type = ggml_type
        self.offset = offset
        rows = 1
        for d in dims[1:]:
            rows *= d
        self.count = rows * dims[0]
        self.nbytes = row_bytes(ggml_type, dims[0]) * rows

    @property
    def shape(self):
        """Row-major (NumPy / Hugging Face) shape: the GGUF dims reversed."""
        return tuple(reversed(self.dims))


class GGUFReader:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            c = _Cursor(f)
            if c.take(4) != GGUF_MAGIC:
                raise ValueError("%s: not a GGUF file" % path)
            self.version, n_tensors, n_kv = struct.unpack("<IQQ", c.take(20))
            self.metadata = {}
            for _ in range(n_kv):
                key = c.string()
                self.metadata[key] = c.value(c.scalar(ValueType.UINT32))
            self.tensors = {}
            for _ in range(n_tensors):
                name = c.string()
                n_dims = c.scalar(ValueType.UINT32)
                dims = list(struct.unpack("<%dq" % n_dims, c.take(8 * n_dims)))
                ggml_type, offset = struct.unpack("<IQ", c.take(12))
                self.tensors[name] = GGUFTensor(name, dims, ggml_type, offset)
            align = self.metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
            self.data_start = (f.tell() + align - 1) // align * align

    def raw(self, name):
        t = self.tensors[name]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + t.offset)
            b = f.read(t.nbytes)
        if len(b) != t.nbytes:
            raise ValueError("%s: tensor %s runs past the end of the file" % (self.path, name))
        return b

    def dequantize(self, name):
        """float32 values in row-major shape."""
        t = self.tensors[name]
        return DEQUANTIZE[t.ggml_type](self.raw(name), t.count).reshape(t.shape)
