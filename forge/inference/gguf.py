"""Answers from an exported GGUF through llama.cpp (llama-cpp-python), as a user's server gives them.

Greedy (top_k 1, no repeat penalty), the chat template stored in the file, the project's system
prompt, and the grammar exported beside the file (forge.inference.constrained.gguf_grammar) when the project
decodes under its output schema. `forge chat --gguf` streams these answers; `forge predict --gguf`
writes them, so a shipped file can be checked on any JSONL of requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from forge.errors import ForgeError
from forge.inference.gbnf import gguf_grammar
from forge.models.chat_format import with_system_prompt


def load_gguf(path: Path, n_ctx: int = 4096):
    """A llama.cpp model for `path`, or a one-line error when llama-cpp-python is missing."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ForgeError("--gguf needs llama-cpp-python: pip install 'forge[llama-cpp]'") from None
    return Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)


class GgufAnswerer:
    """history -> the model's answer, piece by piece; one loaded file, one grammar, many requests."""

    def __init__(self, project, gguf: Path, max_new_tokens: int):
        self.llm = load_gguf(gguf)
        self.system = project.system_prompt()
        self.grammar = gguf_grammar(project, gguf)
        self.max_new_tokens = max_new_tokens

    def pieces(self, history: list[dict]) -> Iterator[str]:
        messages = with_system_prompt({"messages": history}, self.system)
        for chunk in self.llm.create_chat_completion(
            messages=messages,
            max_tokens=self.max_new_tokens,
            temperature=0.0,
            top_k=1,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
            stream=True,
            grammar=self.grammar,
        ):
            yield chunk["choices"][0]["delta"].get("content") or ""

    def answer(self, history: list[dict]) -> str:
        return "".join(self.pieces(history))
