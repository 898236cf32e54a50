"""Shipping a model: merged weights, GGUF for llama.cpp / Ollama, the Hub.

ship: `forge export` (merged and GGUF, with the contract beside it); modelfile: Ollama's
Modelfile; push: adapter and model card to the Hub; gguf/: convert, quantize, verify, vocab.
"""
