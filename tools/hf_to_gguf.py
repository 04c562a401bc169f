#!/usr/bin/python3
"""Convert a Hugging Face Llama-family checkpoint directory to GGUF v3, in llama.cpp's layout.

    /usr/bin/python3 tools/hf_to_gguf.py MODEL_DIR OUT.gguf [--type TYPE] [--name NAME]

MODEL_DIR holds config.json, model.safetensors (or shards with model.safetensors.index.json) and, when
the model has one, tokenizer.json / tokenizer_config.json. Needs only NumPy (Debian python3-numpy).

What it writes is what llama.cpp's convert_hf_to_gguf.py (+ llama-quantize for the K-quants) writes:
  * general.architecture "llama" (LlamaForCausalLM, MistralForCausalLM) or "qwen2" (Qwen2ForCausalLM),
    <arch>.* hyperparameters (context length, widths, head counts, rope theta / linear scaling, RMS eps),
    Llama 3 rope scaling as the rope_freqs tensor;
  * tensor names token_embd, blk.N.attn_{norm,q,k,v,output}, blk.N.ffn_{norm,gate,up,down}, output_norm,
    output (absent when the embeddings are tied); attn_q / attn_k rows permuted for llama.cpp's rope
    (llama architecture only), alignment 32;
  * tokenizer.ggml.* (gpt2-style BPE with merges, or SentencePiece-style "llama" with scores) and
    tokenizer.chat_template.

--type (the 2-D weights; 1-D tensors stay F32):
  f32, f16, bf16          floats
  q8_0, q4_0, q5_0        32-value blocks
  q4_k, q6_k              256-value super-blocks
  q4_k_m                  llama-quantize's Q4_K_M mix: Q4_K, with Q6_K for the output (or tied embeddings)
                          and for attn_v / ffn_down of the layers use_more_bits() picks
A tensor whose rows do not fit the type's block falls back as llama-quantize does (Q4_K -> Q5_0,
Q6_K -> Q8_0, anything still not fitting -> F16). The block quantizers are bit-exact ports of ggml's
quantize_row_*_ref (tools/gguflib/quants.py).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gguflib.constants import TYPE_INFO  # noqa: E402
from gguflib.convert import convert  # noqa: E402
from gguflib.layout import OUTPUT_TYPES  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="f16", choices=sorted(OUTPUT_TYPES))
    ap.add_argument("--name", default=None, help="general.name (default: the directory's name)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    started = time.time()

    def report(t):
        if not args.quiet:
            print("%-28s %-5s %s" % (t.name, TYPE_INFO[t.ggml_type][0], "x".join(map(str, reversed(t.dims)))), flush=True)

    try:
        plans = convert(args.model_dir, args.out, args.type, args.name, report)
    except (ValueError, FileNotFoundError) as e:
        print("hf_to_gguf: %s" % e, file=sys.stderr)
        sys.exit(1)
    if not args.quiet:
        size = os.path.getsize(args.out)
        print("wrote %s: %d tensors, %.2f MB, %.1f s" % (args.out, len(plans), size / 1e6, time.time() - started))


if __name__ == "__main__":
    main()
