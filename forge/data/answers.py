"""What a model answer says, read without judging it: its JSON, its `cmd`, its per-cmd bucket."""

from __future__ import annotations

import json

NO_CMD = "(none)"


def parse_json(text: str):
    """(value, error) for a model answer; tolerates surrounding whitespace only."""
    try:
        return json.loads(text.strip()), None
    except (json.JSONDecodeError, ValueError) as exc:
        return None, f"unparseable JSON: {exc.msg if hasattr(exc, 'msg') else exc}"


def cmd_of(text: str) -> str | None:
    value, _ = parse_json(text)
    if isinstance(value, dict) and isinstance(value.get("cmd"), str | int | float | bool):
        return str(value["cmd"])
    return None


def category(expected: str) -> str:
    """The per-cmd bucket of a gold answer (the expected cmd, or one bucket for non-JSON tasks)."""
    return cmd_of(expected) or NO_CMD
