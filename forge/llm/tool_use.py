"""Tool conversations in the Messages API's shape, and its tool-use answers in forge's.

An example's tools become the request's `tools` (`input_schema` the function's parameters); its history becomes
turns: assistant calls as `tool_use` blocks, results as `tool_result` blocks of a user turn, consecutive turns of
one role merged. A reply's `tool_use` blocks come back as the scored answer forge.data.tool_calls writes (one call
or a list), any other reply as its text.
"""

from __future__ import annotations

import re

from forge.data.tool_calls import calls_answer, functions

# Anthropic tool_use ids allow letters, digits, "_" and "-"; OpenAI's may hold anything.
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# eval.tool_choice as the API's tool_choice. `required` asks as `auto`: a forced choice (`any`) is refused by the
# newest models (400), so a text reply stays possible and is scored wrong under the turn's contract.
TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "auto"}, "none": {"type": "none"}}


def anthropic_tools(tools: list) -> list[dict]:
    return [
        {
            "name": f["name"],
            **({"description": f["description"]} if f.get("description") else {}),
            "input_schema": f["parameters"],
        }
        for f in functions(tools)
    ]


def _merge(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def anthropic_turns(messages: list[dict]) -> list[dict]:
    """`messages` (forge's kept shape; system messages left out, as the student's prompt leaves them) as the
    Messages API's turns. A result without a `tool_call_id` answers the oldest call not yet answered."""
    turns: list[dict] = []
    open_ids: list[str] = []
    for n, msg in enumerate(messages):
        if msg["role"] == "user":
            _merge(turns, "user", [{"type": "text", "text": msg["content"]}])
        elif msg["role"] == "assistant":
            blocks = [{"type": "text", "text": msg["content"]}] if msg.get("content") else []
            for i, call in enumerate(msg.get("tool_calls") or ()):
                call_id = _ID_UNSAFE.sub("_", call.get("id") or f"call_{n}_{i}")
                open_ids.append(call_id)
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": call["function"]["name"],
                        "input": call["function"]["arguments"],
                    }
                )
            if blocks:  # the API refuses an empty text block; an empty turn says nothing
                _merge(turns, "assistant", blocks)
        elif msg["role"] == "tool":
            wanted = _ID_UNSAFE.sub("_", msg["tool_call_id"]) if msg.get("tool_call_id") else None
            call_id = wanted if wanted in open_ids else open_ids[0] if open_ids else wanted or f"call_{n}"
            if call_id in open_ids:
                open_ids.remove(call_id)
            _merge(turns, "user", [{"type": "tool_result", "tool_use_id": call_id, "content": msg["content"]}])
    return turns


def answer_of_content(blocks) -> str:
    """A Messages API reply as forge scores it: its tool_use blocks as calls, else its text."""
    calls = [{"name": b.name, "arguments": dict(b.input)} for b in blocks if b.type == "tool_use"]
    if calls:
        return calls_answer(calls)
    return "".join(b.text for b in blocks if b.type == "text").strip()
