"""Prompt templates, stored as Markdown files beside this module and loaded by name."""

from __future__ import annotations

from importlib import resources


def load(name: str) -> str:
    """The text of prompts/<name>.md."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """The template with each {{key}} replaced; a placeholder left unfilled is an error."""
    text = load(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        start = text.index("{{")
        raise KeyError(f"prompt {name!r}: unfilled placeholder {text[start:text.index('}}', start) + 2]}")
    return text
