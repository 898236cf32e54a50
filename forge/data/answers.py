"""What a model answer says, read without judging it: its JSON, its `cmd` (or the functions it calls), its
per-cmd bucket."""

from __future__ import annotations

import json

from forge.data.tool_calls import calls_in

NO_CMD = "(none)"


def parse_json(text: str):
    """(value, error) for a model answer; tolerates surrounding whitespace only."""
    try:
        return json.loads(text.strip()), None
    except (json.JSONDecodeError, ValueError) as exc:
        return None, f"unparseable JSON: {exc.msg if hasattr(exc, 'msg') else exc}"


def cmd_of(text: str) -> str | None:
    """The answer's `cmd`, or the name of the function it calls ("a+b" for parallel calls, sorted), else None."""
    value, _ = parse_json(text)
    if isinstance(value, dict) and isinstance(value.get("cmd"), str | int | float | bool):
        return str(value["cmd"])
    calls = calls_in(value)
    return "+".join(sorted(c["name"] for c in calls)) if calls else None


def name_noun(text: str) -> str:
    """What an answer's cmd_of names: "function" for calls, else "cmd"."""
    value, _ = parse_json(text)
    return "function" if calls_in(value) else "cmd"


def category(expected: str) -> str:
    """The per-cmd bucket of a gold answer (the expected cmd, or one bucket for non-JSON tasks)."""
    return cmd_of(expected) or NO_CMD
