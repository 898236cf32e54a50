"""Where new training examples come from: the project's offline generator.py, or the LLM.

generator.py (path: dataset.generator) defines

    def generate(n: int, focus: str | None, seed: int) -> list[dict]

returning up to n examples, each a chat example ({"messages": [...]}, with "tools" and tool calls in
OpenAI's format where the task calls functions: forge.data.tool_calls) or a pair ({"user": ..., "assistant": ...}). `focus` is a plain-English description of what to target
(a failure category, a patch description) or None; `seed` makes the output reproducible.
Generated examples go through the same validation, dedupe, gold guard and provenance as the
LLM's.
"""

from __future__ import annotations

from forge.errors import ForgeError
from forge.llm.client import NO_KEY, has_credentials
from forge.project.code import load_function


def use_generator(project) -> bool:
    """True when generation should use generator.py rather than the LLM (dataset.generator_mode)."""
    cfg = project.config
    exists = project.path(cfg.dataset.generator).is_file()
    mode = cfg.dataset.generator_mode
    if mode == "always":
        if not exists:
            raise ForgeError(f"dataset.generator_mode always: {cfg.dataset.generator} not found")
        return True
    if mode == "auto" and exists and not has_credentials(cfg):
        return True
    if not has_credentials(cfg):
        raise ForgeError(NO_KEY)
    return False


def load_generator(project):
    path = project.path(project.config.dataset.generator)
    return load_function(path, project.rel(path), "generate", "generate(n, focus, seed) -> list of examples")


def as_chat(item) -> dict:
    """A generator or LLM item as a chat example (pairs are converted; anything else passes through)."""
    if isinstance(item, dict) and "messages" not in item and {"user", "assistant"} <= set(item):
        return {
            "messages": [
                {"role": "user", "content": str(item["user"])},
                {"role": "assistant", "content": str(item["assistant"])},
            ]
        }
    return item
