"""GGUF writing, reading and ggml block quantization for tools/hf_to_gguf.py and the GGUF test tools."""
