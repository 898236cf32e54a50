"""The dataset formats users arrive with, converted to forge's chat format (`{"messages": [...]}`).

- messages: forge's own (and OpenAI's / TRL's conversational) format, as it is.
- alpaca: `instruction`, optional `input` (appended to the instruction after a blank line), `output`,
  optional `system`.
- sharegpt: `conversations` of `{"from": human|user|gpt|assistant|model|system, "value": ...}`, optional
  `system`; LLaMA-Factory's tool turns too: `function_call` (a JSON call, or a list of calls) and
  `observation` (its result), with `tools` as a JSON string or a list.
- hermes: ShareGPT or messages whose assistant turns write their calls as Hermes text
  (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`), results as `tool` turns (`<tool_response>`
  tags dropped), tools in `tools` or in the system prompt's `<tools>...</tools>`. Detected by those tags.
- prompt-completion: `prompt` and `completion`, each a string or a list of messages (TRL's
  conversational prompt-completion).

Any of them may carry `tools` (function definitions, a list of objects), kept on the example and
rendered through the chat template's tools support at training and eval time (forge.models.tool_template
where the base has none). OpenAI's tool calls (`tool_calls`, `tool` messages, `function_call`) come in as
forge.data.tool_calls keeps them. `auto` detects the format from the first example and holds every line to it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from forge.data.tool_calls import CALL_OPEN, normalize_message, split_calls
from forge.errors import DatasetError
from forge.jsonl import read_jsonl

FORMATS = ("auto", "messages", "alpaca", "sharegpt", "hermes", "prompt-completion")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}
_TOOLS_BLOCK = re.compile(r"<tools>\s*(.*?)\s*</tools>", re.S)
_RESPONSE = re.compile(r"^\s*<tool_response>\s*(.*?)\s*</tool_response>\s*$", re.S)


def _is_hermes(obj: dict) -> bool:
    turns = obj.get("conversations") or obj.get("messages")
    texts = [t.get("value", t.get("content")) for t in turns if isinstance(t, dict)] if isinstance(turns, list) else []
    return any(isinstance(text, str) and CALL_OPEN in text for text in texts)


def detect(obj) -> str | None:
    if not isinstance(obj, dict):
        return None
    if _is_hermes(obj):
        return "hermes"
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


def _sharegpt(convo) -> list[dict]:
    if not isinstance(convo, list) or not convo:
        raise ValueError('"conversations" must be a non-empty list')
    messages = []
    for n, turn in enumerate(convo):
        speaker = turn.get("from") if isinstance(turn, dict) else None
        role = SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None
        if role is None:
            raise ValueError(
                f"conversations[{n}].from must be one of {', '.join(SHAREGPT_ROLES)}"
                f"{', got ' + repr(turn.get('from')) if isinstance(turn, dict) else ''}"
            )
        if speaker == "function_call":  # LLaMA-Factory: one call or a list, as JSON text
            try:
                calls = json.loads(turn.get("value") or "")
            except (TypeError, json.JSONDecodeError):
                raise ValueError(f"conversations[{n}]: a function_call value must be a JSON call") from None
            messages.append(
                {"role": "assistant", "content": "", "tool_calls": calls if isinstance(calls, list) else [calls]}
            )
        else:
            messages.append({"role": role, "content": turn.get("value")})
    return messages


def _tools(obj: dict, messages: list[dict]):
    """The example's tools: a list, a JSON string of one (LLaMA-Factory), or the system prompt's <tools> (Hermes)."""
    tools = obj.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools) if tools.strip() else None
        except json.JSONDecodeError:
            raise ValueError('"tools" is a string but not a JSON list of functions') from None
    if (
        tools is None
        and messages
        and messages[0].get("role") == "system"
        and isinstance(messages[0].get("content"), str)
    ):
        found = _TOOLS_BLOCK.search(messages[0]["content"])
        if found:
            text = found.group(1)
            try:  # a JSON list, or one function object a line
                tools = (
                    json.loads(text)
                    if text.startswith("[")
                    else [json.loads(line) for line in text.splitlines() if line.strip()]
                )
            except json.JSONDecodeError:
                raise ValueError("the system prompt's <tools> block is not JSON") from None
    return tools


def _from_hermes(messages: list[dict]) -> list[dict]:
    """Hermes text turned into forge's calls and results: an assistant turn's <tool_call> blocks, a tool turn's
    <tool_response> tags; the system prompt's tool instructions go (the template writes its own)."""
    out = []
    for n, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, str):
            out.append(msg)
            continue
        if msg.get("role") == "assistant" and CALL_OPEN in content:
            blocks = split_calls(content)
            if blocks is None:
                raise ValueError(f"messages[{n}]: a <tool_call> block that is not a JSON call")
            text, calls = blocks
            out.append({"role": "assistant", "content": text, "tool_calls": calls})
        elif msg.get("role") == "tool":
            found = _RESPONSE.match(content)
            out.append({**msg, "content": found.group(1) if found else content})
        elif msg.get("role") == "system" and (block := _TOOLS_BLOCK.search(content)):
            if content[: block.start()].strip():  # the instructions after the tools go: the template writes its own
                out.append({"role": "system", "content": content[: block.start()].strip()})
        else:
            out.append(msg)
    return out


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
        messages = _sharegpt(obj.get("conversations"))
    elif fmt == "hermes":
        messages = _sharegpt(obj.get("conversations")) if "conversations" in obj else obj.get("messages")
        if not isinstance(messages, list):
            raise ValueError('"messages" must be a list')
    elif fmt == "prompt-completion":
        messages = _turns(obj.get("prompt"), "prompt") + _turns(obj.get("completion"), "completion")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    system = obj.get("system")
    if fmt in ("alpaca", "sharegpt", "hermes") and isinstance(system, str) and system.strip():
        messages = [{"role": "system", "content": system}] + [m for m in messages if m.get("role") != "system"]
    if isinstance(messages, list):
        tools = _tools(obj, messages)
        if fmt == "hermes":
            messages = _from_hermes(messages)
        messages = [normalize_message(m, f"messages[{n}]") for n, m in enumerate(messages)]
    else:
        tools = obj.get("tools")
    out = {"messages": messages}
    if tools is not None:
        out["tools"] = tools
    if "tool_choice" in obj:
        out["tool_choice"] = obj["tool_choice"]
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
                raise DatasetError(
                    f"{display}:{n}: unknown format (expected messages, conversations, "
                    "instruction/output or prompt/completion); name it with --format"
                )
        elif detect(obj) not in (fmt, None) and {detect(obj), fmt} not in (
            {"hermes", "messages"},
            {"hermes", "sharegpt"},
        ):
            raise DatasetError(f"{display}:{n}: a {detect(obj)} example in a {fmt} file")
        # a line whose turns carry Hermes tags is read as Hermes in a messages or ShareGPT file, and back
        line_fmt = "hermes" if detect(obj) == "hermes" else fmt
        try:
            rows.append((n, convert(obj, line_fmt)))
        except ValueError as exc:
            raise DatasetError(f"{display}:{n}: {fmt}: {exc}") from None
    return fmt or "messages", rows
