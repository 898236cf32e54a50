"""Answers from a model: batched greedy generation, decoding under the contract, predict, chat.

generate: left-padded batched greedy generation; constrained: llguidance matchers (the schema's, or the
tools' <tool_call> grammar); gbnf: the schema as llama.cpp's grammar, or refused by keyword; progress: the generation progress line; predict: `forge predict`; chat: `forge chat`;
gguf: answers from an exported GGUF through llama.cpp.
"""
