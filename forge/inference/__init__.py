"""Answers from a model: batched greedy generation, decoding under the contract, predict, chat.

generate: left-padded batched greedy generation; constrained: llguidance matchers and the GBNF
grammar; progress: the generation progress line; predict: `forge predict`; chat: `forge chat`;
gguf: answers from an exported GGUF through llama.cpp.
"""
