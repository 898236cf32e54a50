"""The dataset formats users arrive with, converted to forge's chat format (`{"messages": [...]}`).

- messages: forge's own (and OpenAI's / TRL's conversational) format, as it is.
- alpaca: `instruction`, optional `input` (appended to the instruction after a blank line), `output`,
  optional `system`.
- sharegpt: `conversations` of `{"from": human|user|gpt|assistant|model|system, "value": ...}`, optional
  `system`.
- prompt-completion: `prompt` and `completion`, each a string or a list of messages (TRL's
  conversational prompt-completion).

Any of them may carry `tools` (function definitions, a list of objects), kept on the example and
rendered through the chat template's tools support at training and eval time. `auto` detects the
format from the first example and holds every line to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.errors import DatasetError
from forge.jsonl import read_jsonl

FORMATS = ("auto", "messages", "alpaca", "sharegpt", "prompt-completion")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "model": "assistant", "system": "system"}


def detect(obj) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return "messages"
    if "conversations" in obj:
        return "sharegpt"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    if "prompt" in obj and "completion" in obj:
        return "prompt-completion"
    return None


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string')
    return value


def _turns(value, key: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "user" if key == "prompt" else "assistant", "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise ValueError(f'"{key}" must be a string or a list of {{"role", "content"}} messages')


def convert(obj, fmt: str) -> dict:
    """One example in forge's format (validated later, like any other), or ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    messages: Any  # the messages format's value goes on as it is, validated later like any other
    if fmt == "messages":
        messages = obj.get("messages")
    elif fmt == "alpaca":
        extra = obj.get("input") or ""
        if not isinstance(extra, str):
            raise ValueError('"input" must be a string')
        user = _text(obj, "instruction") + (f"\n\n{extra}" if extra.strip() else "")
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(obj, "output")}]
    elif fmt == "sharegpt":
        convo = obj.get("conversations")
        if not isinstance(convo, list) or not convo:
            raise ValueError('"conversations" must be a non-empty list')
        messages = []
        for n, turn in enumerate(convo):
            speaker = turn.get("from") if isinstance(turn, dict) else None
            role = SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None
            if role is None:
                raise ValueError(f'conversations[{n}].from must be one of {", ".join(SHAREGPT_ROLES)}'
                                 f"{', got ' + repr(turn.get('from')) if isinstance(turn, dict) else ''}")
            messages.append({"role": role, "content": turn.get("value")})
    elif fmt == "prompt-completion":
        messages = _turns(obj.get("prompt"), "prompt") + _turns(obj.get("completion"), "completion")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    system = obj.get("system")
    if fmt in ("alpaca", "sharegpt") and isinstance(system, str) and system.strip():
        messages = [{"role": "system", "content": system}] + [m for m in messages if m.get("role") != "system"]
    out = {"messages": messages}
    if obj.get("tools") is not None:
        out["tools"] = obj["tools"]
    return out


def read_file(path: Path, display: str, fmt: str = "auto") -> tuple[str, list[tuple[int, dict]]]:
    """(the format, (line number, converted example) for every non-blank line); errors name file:line."""
    if fmt not in FORMATS:
        raise DatasetError(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    rows = []
    for n, obj in read_jsonl(path, display):
        if fmt == "auto":
            fmt = detect(obj) or ""
            if not fmt:
                raise DatasetError(f"{display}:{n}: unknown format (expected messages, conversations, "
                                   "instruction/output or prompt/completion); name it with --format")
        elif detect(obj) not in (fmt, None):
            raise DatasetError(f"{display}:{n}: a {detect(obj)} example in a {fmt} file")
        try:
            rows.append((n, convert(obj, fmt)))
        except ValueError as exc:
            raise DatasetError(f"{display}:{n}: {fmt}: {exc}") from None
    return fmt or "messages", rows
