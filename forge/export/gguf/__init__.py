"""GGUF files: writing, quantizing and checking them in llama.cpp.

convert: safetensors to GGUF; vocab: the tokenizer's GGUF metadata; quantize: q8_0 and k-quants
through llama.cpp; verify: the GGUF against the transformers model on the gold prompts.
"""
