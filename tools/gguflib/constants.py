"""GGUF / ggml constants, as ggml.h, gguf.h and llama.cpp's gguf-py define them."""

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_DEFAULT_ALIGNMENT = 32
QK_K = 256  # super-block size of the K-quants


class ValueType:
    """gguf_type: the type of a metadata value (stored as uint32)."""
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)


# struct format and size of each fixed-size metadata value type
SCALAR_FORMAT = {
    ValueType.UINT8: "<B", ValueType.INT8: "<b", ValueType.UINT16: "<H", ValueType.INT16: "<h",
    ValueType.UINT32: "<I", ValueType.INT32: "<i", ValueType.FLOAT32: "<f", ValueType.BOOL: "<?",
    ValueType.UINT64: "<Q", ValueType.INT64: "<q", ValueType.FLOAT64: "<d",
}


class GGMLType:
    """ggml_type ids of the tensor types this tool writes or reads (ggml.h)."""
    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q5_0 = 6
    Q8_0 = 8
    Q4_K = 12
    Q6_K = 14
    BF16 = 30


# ggml_type -> (name, elements per block, bytes per block); the block layouts are ggml-common.h's
TYPE_INFO = {
    GGMLType.F32: ("F32", 1, 4),
    GGMLType.F16: ("F16", 1, 2),
    GGMLType.BF16: ("BF16", 1, 2),
    GGMLType.Q8_0: ("Q8_0", 32, 2 + 32),            # d (f16), qs[32] (int8)
    GGMLType.Q4_0: ("Q4_0", 32, 2 + 16),            # d (f16), qs[16] (two nibbles each)
    GGMLType.Q5_0: ("Q5_0", 32, 2 + 4 + 16),        # d (f16), qh[4] (5th bits), qs[16]
    GGMLType.Q4_K: ("Q4_K", QK_K, 2 + 2 + 12 + 128),  # d, dmin (f16), scales[12] (6-bit), qs[128]
    GGMLType.Q6_K: ("Q6_K", QK_K, 128 + 64 + 16 + 2),  # ql[128], qh[64], scales[16] (int8), d (f16)
}


def row_bytes(ggml_type, n_cols):
    name, block, size = TYPE_INFO[ggml_type]
    if n_cols % block != 0:
        raise ValueError("%s needs rows of a multiple of %d values, got %d" % (name, block, n_cols))
    return n_cols // block * size


class TokenType:
    """llama_token_type as gguf-py writes it in tokenizer.ggml.token_type."""
    NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = range(1, 7)


class FileType:
    """llama_ftype (general.file_type): what most tensors of the file are."""
    ALL_F32 = 0
    MOSTLY_F16 = 1
    MOSTLY_Q4_0 = 2
    MOSTLY_Q8_0 = 7
    MOSTLY_Q5_0 = 8
    MOSTLY_Q4_K_S = 14
    MOSTLY_Q4_K_M = 15
    MOSTLY_Q6_K = 18
    MOSTLY_BF16 = 32


GGML_QUANT_VERSION = 2
