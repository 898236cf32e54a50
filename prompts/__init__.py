"""Prompt templates, stored as Markdown files beside this module and loaded by name.

Placeholders are `{{name}}`. Rendering is a single pass, so values may themselves contain
braces (a BACKGROUND.md with JSON in it) without being re-expanded.
"""

from __future__ import annotations

import re
from importlib import resources

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def load(name: str) -> str:
    """The text of prompts/<name>.md."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def placeholders(name: str) -> set[str]:
    return set(_PLACEHOLDER.findall(load(name)))


def render(name: str, **values: str) -> str:
    """The template with every {{key}} replaced; a placeholder without a value is an error."""
    text = load(name)
    missing = placeholders(name) - set(values)
    if missing:
        raise KeyError(f"prompt {name!r}: no value for {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
